package middleware

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// serveAndClose runs next and closes c as its return value says, so that
// the caller sees how the connection ended (c.Err()). A panic in next
// becomes a *service.PanicError, which closes with 1011 as it would
// otherwise; it returns next's error.
func serveAndClose(ctx context.Context, c *service.Conn, next service.Handler) error {
	err := service.Invoke(ctx, c, next)
	c.CloseWithError(err)
	return err
}

// failure reports whether a handler's error is a failure of its own,
// not the close of the connection nor the fallout of it.
func failure(err error) bool {
	return err != nil && !errors.Is(err, service.ErrClosed) && !errors.Is(err, context.Canceled)
}

// route names the route a connection came through: the pattern of the
// router that served its request, or "" when no router set one.
func route(c *service.Conn) string {
	if r := c.Request(); r != nil {
		return r.Pattern
	}
	return ""
}

// counter counts a connection's messages and bytes each way.
type counter struct {
	msgsIn, bytesIn, msgsOut, bytesOut atomic.Int64
}

func (n *counter) Received(_ protocol.MessageType, size int) error {
	n.msgsIn.Add(1)
	n.bytesIn.Add(int64(size))
	return nil
}

func (n *counter) Sent(_ protocol.MessageType, size int) {
	n.msgsOut.Add(1)
	n.bytesOut.Add(int64(size))
}
