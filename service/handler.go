package service

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
)

// Handler serves one WebSocket connection as plain sequential code.
//
// ctx is the connection's context (see Conn.Context): it is cancelled when
// the connection starts closing, for whatever reason, including a server's
// Shutdown. The return value closes the connection: nil with 1000
// (normal closure); a *CloseError, or an error wrapping one, with its code
// and reason; any other error with 1011 (internal error), reporting the
// error to Options.OnError. A panic closes with 1011 too, and the server
// goes on.
type Handler interface {
	ServeWS(ctx context.Context, c *Conn) error
}

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc func(ctx context.Context, c *Conn) error

// ServeWS calls f(ctx, c).
func (f HandlerFunc) ServeWS(ctx context.Context, c *Conn) error { return f(ctx, c) }

// PanicError is the error a panicking handler is reported with.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the goroutine's stack where it panicked
}

// Error describes the panic.
func (e *PanicError) Error() string { return fmt.Sprintf("service: handler panic: %v", e.Value) }

// Run serves c with h and closes c as h's return value says (see Handler).
// It returns h's error, or a *PanicError if h panicked. A Server's
// Shutdown waits for Run to return.
func Run(c *Conn, h Handler) (err error) {
	held := c.hold()
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p, Stack: debug.Stack()}
		}
		c.CloseWithError(err)
		if c.opts.OnError != nil && reportable(err) {
			c.opts.OnError(c, err)
		}
		if held {
			c.release()
		}
	}()
	return h.ServeWS(c.ctx, c)
}

// reportable reports whether err is news to the application: not a close,
// nor the fallout of the connection having closed.
func reportable(err error) bool {
	var pe *PanicError
	switch {
	case err == nil:
		return false
	case errors.As(err, &pe):
		return true
	case errors.Is(err, ErrClosed), errors.Is(err, context.Canceled):
		return false
	}
	return true
}
