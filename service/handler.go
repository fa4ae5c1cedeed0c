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
//
// Run blocks until h returns; Start runs h on a goroutine of its own.
func Run(c *Conn, h Handler) error {
	return runHandler(c, h, c.hold())
}

// Start serves c with h as Run does, on a goroutine of its own, and
// returns at once. A Server's Shutdown waits for h to return.
//
// The mux and Endpoint serve connections with Start, so that net/http's
// goroutine and the buffers it holds for the request are freed at the
// upgrade instead of living as long as the connection (see
// docs/connection.md).
func Start(c *Conn, h Handler) {
	held := c.hold()
	go func() { _ = runHandler(c, h, held) }()
}

// runHandler runs h on c; held says whether the handler was counted by hold.
func runHandler(c *Conn, h Handler, held bool) (err error) {
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
