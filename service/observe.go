package service

import (
	"errors"
	"strings"

	"github.com/wsmap/wsmap/protocol"
)

// An Observer sees every message a connection receives and sends; see
// Conn.Observe. Middleware uses it to count, log and limit messages.
// Its methods may be called from several goroutines at once.
type Observer interface {
	// Received is called when a message has been read whole (and passed
	// the read limit and the UTF-8 check), before it is delivered. size
	// is the payload's length. A non-nil error fails the connection
	// instead of delivering the message: a *CloseError with its code and
	// reason, any other error with 1008 (policy violation) and the
	// error's text as the reason.
	Received(typ protocol.MessageType, size int) error

	// Sent is called after a message has been written whole.
	Sent(typ protocol.MessageType, size int)
}

// Observe adds o to the connection's observers. Observers added before
// the handler first calls Recv or Reader see every message; typically
// connection middleware adds them before calling the next handler.
func (c *Conn) Observe(o Observer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.observers.Load()
	var obs []Observer
	if old != nil {
		obs = append(obs, *old...)
	}
	obs = append(obs, o)
	c.observers.Store(&obs)
}

// received tells the observers about a message read whole, and returns
// the close that refuses it, if one does.
func (c *Conn) received(typ protocol.MessageType, size int64) *CloseError {
	obs := c.observers.Load()
	if obs == nil {
		return nil
	}
	for _, o := range *obs {
		if err := o.Received(typ, int(size)); err != nil {
			var ce *CloseError
			if errors.As(err, &ce) && ce.Code.Sendable() {
				return &CloseError{Code: ce.Code, Reason: truncateReason(ce.Reason)}
			}
			return &CloseError{Code: protocol.ClosePolicyViolation, Reason: truncateReason(strings.ToValidUTF8(err.Error(), "\uFFFD"))}
		}
	}
	return nil
}

// sent tells the observers about a message written whole.
func (c *Conn) sent(typ protocol.MessageType, size int) {
	obs := c.observers.Load()
	if obs == nil {
		return
	}
	for _, o := range *obs {
		o.Sent(typ, size)
	}
}
