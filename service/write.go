package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsmap/wsmap/internal/xsync"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service/internal/wire"
)

// Send writes one message of the given type. It is safe to call from any
// number of goroutines; each message is written whole, in the order the
// calls obtain the connection.
//
// Waiting for other senders ends with ctx. A write that cannot finish
// before ctx ends or Options.WriteTimeout passes ends the connection
// (locally 1006), so that a peer that stops reading cannot block the
// application; the error then wraps ErrClosed. On a connection that is
// closing, or that begins closing while the message is written (the
// peer's close frame comes), Send returns the close, a *CloseError,
// whatever the write met: a peer that fails the connection resets it
// without waiting for the answer to its close frame. The payload of a text
// message must be valid UTF-8: Send does not check it, the peer will.
func (c *Conn) Send(ctx context.Context, typ protocol.MessageType, data []byte) error {
	if !typ.Valid() {
		return fmt.Errorf("service: Send: invalid message type %v", typ)
	}
	if err := c.lockWrite(ctx); err != nil {
		return err
	}
	defer c.unlockWrite()
	err := c.write(ctx, func() error { return c.writeMessage(typ, data) })
	if err != nil {
		return err
	}
	c.sent(typ, len(data))
	return nil
}

// Writer returns a writer for one message of the given type, for payloads
// produced piece by piece. The message goes out in frames as it is
// written: small writes are gathered into frames of about 4 KiB, a larger
// one may go out as a frame of its own, and the last frame goes out when
// the writer is closed, which ends the message. Until then the writer holds
// the connection: other senders wait, so always close it. ctx bounds the
// wait for the connection and every write, as for Send.
func (c *Conn) Writer(ctx context.Context, typ protocol.MessageType) (io.WriteCloser, error) {
	if !typ.Valid() {
		return nil, fmt.Errorf("service: Writer: invalid message type %v", typ)
	}
	if err := c.lockWrite(ctx); err != nil {
		return nil, err
	}
	w := &messageWriter{c: c, ctx: ctx, typ: typ}
	err := c.write(ctx, func() error {
		var err error
		w.w, err = c.nextWriter(typ)
		return err
	})
	if err != nil {
		c.unlockWrite()
		return nil, err
	}
	return w, nil
}

type messageWriter struct {
	c      *Conn
	ctx    context.Context
	typ    protocol.MessageType
	w      io.WriteCloser
	n      int // bytes written so far
	closed bool
}

func (w *messageWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, fmt.Errorf("service: write to a closed message writer")
	}
	var n int
	err := w.c.write(w.ctx, func() error {
		var err error
		n, err = w.w.Write(p)
		return err
	})
	w.n += n
	return n, err
}

// Close ends the message and releases the connection to other senders.
func (w *messageWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	defer w.c.unlockWrite()
	err := w.c.write(w.ctx, w.w.Close)
	if err != nil {
		return err
	}
	w.c.sent(w.typ, w.n)
	return nil
}

// lockWrite waits for the right to write. A ctx that has already ended
// refuses the write before it starts, leaving the connection open.
func (c *Conn) lockWrite(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return c.ctxErr(ctx)
	}
	if !c.writeMu.TryLock() {
		if err := c.waitWrite(ctx); err != nil {
			return err
		}
	}
	if c.State() != StateOpen {
		c.writeMu.Unlock()
		return c.closedErr()
	}
	return nil
}

// waitWrite waits for the write lock, held by another writer, until ctx
// ends or the connection starts closing.
func (c *Conn) waitWrite(ctx context.Context) error {
	switch err := c.writeMu.LockOr(ctx, c.ctx.Done()); {
	case errors.Is(err, xsync.ErrStopped):
		return c.closedErr()
	case err != nil:
		return c.ctxErr(ctx)
	}
	return nil
}

func (c *Conn) unlockWrite() { c.writeMu.Unlock() }

// write runs f, a write of the connection's writer of frames (see
// frame.go), under the write timeout and ctx. If the write fails, or ctx
// ends while it is under way, the connection ends.
func (c *Conn) write(ctx context.Context, f func() error) error {
	// The connection's own context has no deadline, and is cancelled
	// only once the connection is closing, which lets a write finish: no
	// need to watch it. Not watching keeps the hot path free of
	// allocations, and telling it apart first makes no Done channel. A
	// context that only adds values to it (a span, a logger) ends with
	// it, by the same channel: no need to watch that either.
	own := ctx == c.ctx
	deadline := time.Now().Add(c.opts.WriteTimeout)
	if !own {
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
	}
	c.setWriteDeadline(deadline)
	if !own {
		done := ctx.Done()
		own = done == nil || done == c.ctx.Done()
	}
	if own {
		return c.writeResult(ctx, f(), false)
	}
	return c.writeWatched(ctx, f)
}

// writeWatched runs f and ends the connection if ctx ends meanwhile.
func (c *Conn) writeWatched(ctx context.Context, f func() error) error {
	var interrupted atomic.Bool
	stop := context.AfterFunc(ctx, func() {
		// A connection already closing (which is what cancels its own
		// context) finishes its write under the write timeout, so that
		// the close frame can follow it.
		if c.State() == StateOpen {
			interrupted.Store(true)
			c.abort(context.Cause(ctx))
		}
	})
	err := f()
	stop()
	return c.writeResult(ctx, err, interrupted.Load())
}

// writeResult turns the outcome of a write into Send's error, ending the
// connection if the write failed.
//
// A write that fails once the connection has begun closing reports the
// close, as one refused after the close frame went out does: the peer's
// close frame, or the close that began closing here, or how the
// connection ended. Such a write fails because of the close, whatever the
// socket says: a peer that fails the connection (RFC 6455 section 7.1.7)
// closes TCP without waiting for the answer to its close frame, so that
// the answer, and every write after it, may meet a reset (a broken pipe)
// rather than be refused as following the close frame. Only a write that
// fails on an open connection reports its own error, as the one that ends
// the connection.
func (c *Conn) writeResult(ctx context.Context, err error, interrupted bool) error {
	switch {
	case interrupted:
		return closingError{fmt.Errorf("service: write interrupted: %w", ctx.Err())}
	case err == nil:
		return nil
	case errors.Is(err, websocket.ErrCloseSent), err == wire.ErrCloseSent:
		return c.closedErr()
	}
	if c.State() != StateOpen {
		c.abort(err) // the outcome is already known, or err is its cause
		return c.closedErr()
	}
	if cerr := ctxEnded(ctx, err); cerr != nil {
		// The deadline taken from ctx expired.
		cause := context.Cause(ctx)
		if cause == nil {
			cause = cerr // ctx's timer has yet to fire
		}
		c.abort(cause)
		return closingError{fmt.Errorf("service: write interrupted: %w", cerr)}
	}
	c.abort(err)
	return closingError{fmt.Errorf("service: write: %w", err)}
}

// ctxEnded returns ctx's error if it has ended, or if err is the expiry of
// a deadline taken from ctx: the socket's deadline can fire a moment
// before ctx's own timer does. It returns nil otherwise.
func ctxEnded(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if d, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// closingError is an error that ended the connection: its text is the
// error's own, and it matches ErrClosed too.
type closingError struct{ error }

// Unwrap returns the error and ErrClosed.
func (e closingError) Unwrap() []error { return []error{e.error, ErrClosed} }
