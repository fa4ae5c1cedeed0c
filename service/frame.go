package service

import (
	"net"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsmap/wsmap/service/internal/wire"
)

// Writing frames. On a server connection without compression, c.fw (see
// wire.Writer) writes whole messages as single frames itself, and every
// write to the socket, gorilla's control frames and Writer streams
// included, holds its frame lock for the length of one frame. gorilla's
// write buffer is then needed only by Writer streams, which borrow it from
// a pool for the length of a message, so that a connection holds no write
// buffer between messages. Control frames wait for the frame lock only
// until their deadline. The one write that does not take it is gorilla's
// own close frame on a protocol error it finds while reading; it is a
// single write, so it cannot split a frame, and the connection is failing
// then anyway. On other connections gorilla writes every frame.

// writeControl sends a control frame with gorilla, holding the frame lock
// where the connection writes its own frames.
func (c *Conn) writeControl(msgType int, payload []byte, deadline time.Time) error {
	if c.fw == nil {
		return c.ws.WriteControl(msgType, payload, deadline)
	}
	if !c.fw.LockUntil(deadline) {
		return wire.ErrDeadline
	}
	defer c.fw.Unlock()
	if c.fw.CloseSent() {
		return websocket.ErrCloseSent
	}
	err := c.ws.WriteControl(msgType, payload, deadline)
	if msgType == websocket.CloseMessage {
		// After a close frame, gorilla refuses its own writes; the
		// connection's own frames are refused by the frame writer.
		c.fw.SetCloseSent()
	}
	return err
}

// onPing answers a ping, as gorilla's default handler does, through the
// frame lock. It runs in the reading goroutine.
func (c *Conn) onPing(data string) error {
	err := c.writeControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	if err == nil || err == websocket.ErrCloseSent {
		return nil
	}
	if _, ok := err.(net.Error); ok {
		return nil // a pong that cannot go out now is not worth failing for
	}
	return err
}
