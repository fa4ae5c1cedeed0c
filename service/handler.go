package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"

	"github.com/wsmap/wsmap/internal/reported"
	"github.com/wsmap/wsmap/protocol"
)

// Handler serves one WebSocket connection as plain sequential code.
//
// ctx is the connection's context (see Conn.Context): it is cancelled when
// the connection starts closing, for whatever reason, including a server's
// Shutdown. The return value closes the connection: nil with 1000
// (normal closure); a *CloseError, or an error wrapping one, with its code
// and reason; a *MessageError (the peer sent what the handler cannot use)
// with its code and reason; any other error with 1011 (internal error),
// reporting the error to Options.OnError. A panic closes with 1011 too,
// and the server goes on.
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

// Upgrade upgrades r as Accept does and serves the connection with h on a
// goroutine of its own, which a Server's Shutdown waits for; h's return
// value closes the connection (see Handler). It returns once the
// handshake is answered: nil when the connection is open and h running,
// or Accept's error when the handshake was refused (the refusal is
// written already).
//
// Upgrade is the building block of routers (the mux and Endpoint use it);
// an application serves one service with an Endpoint, or accepts inside
// its own handler with Accept.
//
// The upgrade itself runs on h's goroutine while the caller waits:
// net/http's goroutine is deep in its own frames by the time it reaches
// a handler, and the upgrade would grow its stack, a copy of every frame,
// just before the goroutine ends; the new goroutine's stack is shallow
// and grows once for all of h. A panic in the upgrade (in a CheckOrigin
// function, say) is raised again on the caller's goroutine, where
// net/http recovers it.
func Upgrade(w http.ResponseWriter, r *http.Request, opts *AcceptOptions, h Handler) error {
	if opts == nil {
		opts = &noAcceptOptions
	}
	offer, err := CheckHandshake(r)
	if err != nil {
		return refuse(w, err)
	}
	return serveOffer(w, r, offer, opts, h)
}

// An upgrade is a checked handshake that serveOffer hands to the
// goroutine that upgrades it and then runs its handler, and the outcome
// that goroutine hands back: one allocation for both ways, the options
// copied so that the caller's need not outlive the call.
type upgrade struct {
	w     http.ResponseWriter
	r     *http.Request
	offer protocol.Offer
	o     AcceptOptions
	h     Handler

	done     sync.WaitGroup // done once the fields below are set
	err      error          // the upgrade's error
	panicked bool           // the upgrade panicked, with value
	value    any
}

// serveOffer is Upgrade once the handshake is checked.
func serveOffer(w http.ResponseWriter, r *http.Request, offer protocol.Offer, o *AcceptOptions, h Handler) error {
	u := &upgrade{w: w, r: r, offer: offer, o: *o, h: h}
	u.done.Add(1)
	go u.run()
	u.done.Wait()
	if u.panicked {
		panic(u.value)
	}
	return u.err
}

// run upgrades, tells serveOffer the outcome, then runs the handler; the
// connection is counted (see hold) before serveOffer returns. Once done,
// u is serveOffer's: run keeps only the handler.
func (u *upgrade) run() {
	h := u.h
	c := u.accept()
	held := c != nil && c.hold()
	u.done.Done()
	if c != nil {
		_ = runHandler(c, h, held)
	}
}

// accept is accept for u, recording on u its error or its panic; it
// returns the connection, or nil.
func (u *upgrade) accept() (c *Conn) {
	defer func() {
		if p := recover(); p != nil {
			u.panicked, u.value, c = true, p, nil
		}
	}()
	c, u.err = accept(u.w, u.r, u.offer, &u.o)
	return c
}

// runHandler runs h on c; held says whether the handler was counted by hold.
// A handler that ends its goroutine without returning (runtime.Goexit,
// as t.FailNow does in a test) is a failure like a panic: the connection
// closes with 1011 and is released all the same, so that a Server's
// Shutdown does not wait for it.
func runHandler(c *Conn, h Handler, held bool) error {
	returned := false
	defer func() {
		if !returned {
			c.CloseWithError(ErrHandlerExited)
			c.report(ErrHandlerExited)
		}
		if held {
			c.release()
		}
	}()
	err := Invoke(c.ctx, c, h)
	returned = true
	c.CloseWithError(err)
	if reportable(err) {
		c.report(err)
	}
	return err
}

// ErrHandlerExited is the failure of a handler that ended its goroutine
// without returning, by runtime.Goexit (as t.FailNow does): it is
// reported as the handler's error (Options.OnError), and the connection
// closes with 1011.
var ErrHandlerExited = errors.New("service: handler exited without returning (runtime.Goexit)")

// Invoke calls h.ServeWS(ctx, c) and returns its error, or, if h panicked,
// a *PanicError with the value and the stack where it panicked. It is the
// one place a handler's panic is recovered: the connection's own runner
// uses it, and so does connection middleware that must see a panic as an
// error (to log it, count it, or report it).
func Invoke(ctx context.Context, c *Conn, h Handler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return h.ServeWS(ctx, c)
}

// report gives a handler's failure to Options.OnError or, when that is
// nil and no layer reported the failure already, logs it through
// slog.Default(), as net/http logs a handler's panic: a failure is never
// silent.
func (c *Conn) report(err error) {
	if c.opts.OnError != nil {
		c.opts.OnError(c, err)
		return
	}
	if reported.Is(err) {
		return
	}
	attrs := []slog.Attr{
		slog.String("route", c.pattern()),
		slog.String("protocol", c.Subprotocol()),
		slog.String("remote", c.RemoteAddr().String()),
	}
	msg := "websocket handler failed"
	var pe *PanicError
	if errors.As(err, &pe) {
		msg = "websocket handler panic"
		attrs = append(attrs, slog.Any("panic", pe.Value), slog.String("stack", string(pe.Stack)))
	} else {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	slog.Default().LogAttrs(context.Background(), slog.LevelError, msg, attrs...)
}

// reportable reports whether err is news to the application: not a close,
// nor the fallout of the connection having closed. A panic is news
// whatever else err wraps.
func reportable(err error) bool {
	if err == nil {
		return false
	}
	panicked, quiet, asks := scanHandlerError(err)
	switch {
	case asks:
		return reportableAs(err)
	case panicked:
		return true
	}
	return !quiet
}

// scanHandlerError walks err's tree as errors.Is and errors.As do, by
// hand: errors.As would move its targets to the heap on every
// connection's end. It reports whether the tree holds a *PanicError,
// whether it holds a close (an error that is or matches ErrClosed or
// context.Canceled, or a *MessageError), and whether an error in it has
// an As method, which only errors.As may ask.
func scanHandlerError(err error) (panicked, quiet, asks bool) {
	for err != nil {
		switch err.(type) {
		case *PanicError:
			panicked = true
		case *MessageError:
			quiet = true
		}
		if _, ok := err.(interface{ As(any) bool }); ok {
			asks = true
		}
		if err == ErrClosed || err == context.Canceled {
			quiet = true
		} else if x, ok := err.(interface{ Is(error) bool }); ok && (x.Is(ErrClosed) || x.Is(context.Canceled)) {
			quiet = true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				p, q, a := scanHandlerError(e)
				panicked, quiet, asks = panicked || p, quiet || q, asks || a
			}
			return panicked, quiet, asks
		default:
			return panicked, quiet, asks
		}
	}
	return panicked, quiet, asks
}

// reportableAs is reportable for an error tree holding an As method.
func reportableAs(err error) bool {
	var pe *PanicError
	var me *MessageError
	switch {
	case errors.As(err, &pe):
		return true
	case errors.Is(err, ErrClosed), errors.Is(err, context.Canceled), errors.As(err, &me):
		return false
	}
	return true
}
