package service

import (
	"context"

	"github.com/wsmap/wsmap/internal/reported"
	"github.com/wsmap/wsmap/protocol"
)

// Events builds a Handler from callbacks, for code that prefers reacting to
// events over a receive loop. Every callback is optional and all run on
// the connection's handler goroutine, one at a time.
type Events struct {
	// OnOpen runs once, before any message is received. An error ends the
	// connection as a Handler's return value does.
	OnOpen func(ctx context.Context, c *Conn) error

	// OnMessage runs for every message received, in order. An error ends
	// the connection as a Handler's return value does.
	OnMessage func(ctx context.Context, c *Conn, typ protocol.MessageType, data []byte) error

	// OnError runs with an error that ends the connection other than a
	// close: one returned by OnOpen or OnMessage. An error it is given is
	// not logged again by the connection (see Options.OnError).
	OnError func(c *Conn, err error)

	// OnClose runs last, once the connection is closed, with the final
	// close code and reason (see CloseError).
	OnClose func(c *Conn, code protocol.CloseCode, reason string)
}

// ServeWS implements Handler.
func (e *Events) ServeWS(ctx context.Context, c *Conn) error {
	err := e.run(ctx, c)
	if e.OnError != nil && reportable(err) {
		e.OnError(c, err)
		err = reported.Mark(err)
	}
	if e.OnClose != nil {
		c.CloseWithError(err)
		code, reason := CloseStatus(c.Err())
		e.OnClose(c, code, reason)
	}
	return err
}

func (e *Events) run(ctx context.Context, c *Conn) error {
	if e.OnOpen != nil {
		if err := e.OnOpen(ctx, c); err != nil {
			return err
		}
	}
	for {
		typ, data, err := c.Recv(ctx)
		if err != nil {
			if c.Err() != nil || c.State() != StateOpen {
				// The connection ended: not the handler's error.
				return nil
			}
			return err
		}
		if e.OnMessage != nil {
			if err := e.OnMessage(ctx, c, typ, data); err != nil {
				return err
			}
		}
	}
}
