package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"

	"github.com/gorilla/websocket"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service/internal/wire"
)

// A readResult is what a receive got: a whole message or a stream.
type readResult struct {
	typ  protocol.MessageType
	data []byte         // whole messages
	r    *messageReader // streams
}

// Recv waits for the next message and returns it whole. Text messages are
// checked to be valid UTF-8; a message that is not, or that exceeds the
// read limit, fails the connection with 1007 or 1009 and Recv returns the
// *CloseError.
//
// When the connection closes, Recv returns a *CloseError (read it with
// CloseStatus): the peer's close code and reason, or 1006 if the peer
// vanished. Once closed, Recv returns at once.
//
// Messages that arrived before the connection started closing are
// returned first, even after it has: a handler draining its messages
// sees each of them, then the close.
//
// If ctx ends first, Recv returns ctx.Err(); the connection stays usable
// and no message is lost: the one being received goes to the next Recv.
// With the connection's own context (a handler's ctx), which only closing
// ends, Recv reads on the calling goroutine and, when the connection
// starts closing, returns once the closing handshake is done.
func (c *Conn) Recv(ctx context.Context) (protocol.MessageType, []byte, error) {
	return c.RecvInto(ctx, nil)
}

// RecvInto is Recv reading the message into buf's array, from its start,
// to save an allocation per message when buf is reused: the message
// returned is buf[:n] if it fits in cap(buf), else a larger buffer
// (which the caller may keep for the next call). A nil buf is Recv.
// The message is only written into buf when it is read directly (see
// Conn); a message the connection read ahead arrives in a buffer of its
// own.
func (c *Conn) RecvInto(ctx context.Context, buf []byte) (protocol.MessageType, []byte, error) {
	res, err := c.next(ctx, false, buf)
	if err != nil {
		return 0, nil, err
	}
	if res.r != nil { // a Reader call was abandoned before this one
		data, err := res.r.readAll(buf)
		if err != nil {
			return 0, nil, err
		}
		return res.typ, data, nil
	}
	return res.typ, res.data, nil
}

// Reader waits for the next message and returns a reader for its payload,
// for messages too large to hold in memory at once. The read limit and the
// UTF-8 check apply as the payload is read. The reader is valid until the
// next call to Recv or Reader, which discards whatever was not read.
//
// ctx bounds the wait for the message to start; reading the payload is
// bounded by the connection's keepalive.
func (c *Conn) Reader(ctx context.Context) (protocol.MessageType, io.Reader, error) {
	res, err := c.next(ctx, true, nil)
	if err != nil {
		return 0, nil, err
	}
	if res.r == nil { // a message read ahead
		h := &heldReader{r: bytes.NewReader(res.data)}
		c.rd.held = h
		return res.typ, h, nil
	}
	return res.typ, res.r, nil
}

// CloseRead declares that the application does not read from c: from
// then on the connection reads by itself, answering pings and echoing the
// peer's close (which cancels the handler's ctx), and closes with 1008
// (policy violation) as soon as a data message arrives, or at once if
// one had arrived already and is still unread (a stream from Reader not
// read to its end included). Recv and Reader then return ErrReadClosed,
// and once the connection is closing, the *CloseError that says how. It
// suits handlers that only send, such as feeds and dashboards.
func (c *Conn) CloseRead() { c.rd.closeRead() }

// MessageError is a received message the application cannot use, such as
// one wsjson.Recv cannot decode. The connection stays open; a handler that
// returns it (or an error wrapping it) closes the connection with Code and
// Reason, blaming the peer, and it is not reported to Options.OnError.
type MessageError struct {
	Code   protocol.CloseCode
	Reason string
	Err    error // the underlying error, if any
}

// Error returns "service: " and the reason.
func (e *MessageError) Error() string { return "service: " + e.Reason }

// Unwrap returns the underlying error.
func (e *MessageError) Unwrap() error { return e.Err }

// next gets the next message: from the queue, directly on the calling
// goroutine, or from the read loop (see reader).
func (c *Conn) next(ctx context.Context, stream bool, buf []byte) (readResult, error) {
	if !c.readMu.TryLock() {
		if c.readMu.Lock(ctx) != nil {
			return readResult{}, c.ctxErr(ctx)
		}
	}
	defer c.readMu.Unlock()

	if c.rd.held != nil {
		c.rd.held.release() // the loop discards what is left of it
		c.rd.held = nil
	}
	// Read directly if nothing could interrupt the read but the
	// connection's end. The direct read runs from this small frame: a
	// handler waiting in Recv keeps the stack it waits on. The
	// connection's own context is told apart before asking for its Done
	// channel, which asking makes.
	var done <-chan struct{}
	e := evRecvDirect // the connection's end wakes the receiver anyway
	if ctx != c.ctx {
		if done = ctx.Done(); done == c.ctx.Done() {
			done = nil
		} else if done != nil {
			e = evRecvWait
		}
	}
	if stream {
		e = evRecvStream
	}
	for {
		q, s, do, wait, err := c.rd.take(e)
		switch {
		case err != nil:
			return readResult{}, err
		case do&aReadDirect != 0:
			return c.readDirect(buf)
		case s != nil:
			if stream {
				c.rd.held = s
			}
			return readResult{typ: s.typ, r: s}, nil
		case do&aPop != 0:
			return readResult{typ: q.typ, data: q.data}, nil
		}
		select {
		case <-wait:
		case <-done:
			c.rd.abandon()
			return readResult{}, c.ctxErr(ctx)
		}
	}
}

// readDirect reads the next message on the calling goroutine, which holds
// the reader role, into buf (a new buffer if nil).
func (c *Conn) readDirect(buf []byte) (readResult, error) {
	typ, r, err := c.nextReader()
	if err != nil {
		return readResult{}, c.endRead(err)
	}
	// Only the holder of the reader role uses directMR, and only here:
	// it is never handed out, so that reading it takes no lock.
	mr := &c.rd.directMR
	*mr = messageReader{c: c, typ: typ, r: r, unshared: true}
	data, err := mr.readAll(buf)
	if mr.gorillaErr != nil {
		return readResult{}, c.endRead(mr.gorillaErr)
	}
	c.rd.directRead()
	if err != nil {
		return readResult{}, err
	}
	return readResult{typ: typ, data: data}, nil
}

// A stream is what Reader hands out: valid until the next Recv or Reader.
type stream interface {
	io.Reader
	release()
}

// heldReader is the stream of a message read ahead.
type heldReader struct {
	mu       sync.Mutex
	r        *bytes.Reader
	released bool
}

func (h *heldReader) Read(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		return 0, errStaleReader
	}
	return h.r.Read(p)
}

func (h *heldReader) release() {
	h.mu.Lock()
	h.released = true
	h.mu.Unlock()
}

// errStaleReader is returned by a stream used after the next Recv or
// Reader.
var errStaleReader = fmt.Errorf("service: message reader used after the next Recv or Reader: %w", io.ErrClosedPipe)

// ctxErr is the error for an operation whose ctx ended: ctx.Err(), or the
// close when the connection is closing, since closing cancels the
// connection's own context, which handlers pass to every call.
func (c *Conn) ctxErr(ctx context.Context) error {
	if c.State() != StateOpen {
		return c.closedErr()
	}
	return ctx.Err()
}

// closedErr is the error operations return once the connection is closing.
// It is the outcome if known, else the close frame sent to begin closing.
func (c *Conn) closedErr() error {
	if ce := c.outcome(nil); ce != nil {
		return ce
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.initiated != nil {
		return c.initiated
	}
	return ErrClosed
}

// endRead handles the error that ended reading, on the goroutine that
// read: it fails the connection when the error is a violation, ends
// reading and finishes the connection. It returns the outcome.
func (c *Conn) endRead(err error) *CloseError {
	if cause := c.rd.deadlineCause(err); cause != nil {
		err = cause
	}
	ce, fail := classifyReadError(err)
	if fail {
		c.fail(ce)
	}
	ce = c.outcome(ce)
	c.rd.ended(ce)
	c.finish(ce)
	return ce
}

// classifyReadError turns an error from gorilla's reader into the close it
// stands for, and says whether the connection must be failed with it.
func classifyReadError(err error) (ce *CloseError, fail bool) {
	// The chain is walked by hand: errors.As would move each target
	// variable to the heap, on every connection's end.
	var wce *websocket.CloseError
	abnormal := false
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch t := e.(type) {
		case *wire.FrameError:
			// The reason says it all: a cause would repeat it.
			return &CloseError{Code: t.Code, Reason: t.Reason}, true
		case *CloseError:
			// The peer's close frame, as the frame guard's Control
			// recorded it (see control.Close).
			return t, false
		case *websocket.CloseError:
			if wce == nil {
				wce = t
			}
		case net.Error, *silenceError:
			abnormal = true
		}
		if e == io.EOF || e == io.ErrUnexpectedEOF || e == net.ErrClosed {
			abnormal = true
		}
	}
	if wce != nil && wce.Code != websocket.CloseAbnormalClosure {
		// The peer's close frame, on a compressed connection; gorilla
		// has called onPeerClose.
		return &CloseError{Code: protocol.CloseCode(wce.Code), Reason: wce.Text}, false
	}
	switch {
	case wce != nil:
		// gorilla's 1006 stands for a stream cut short; its text would
		// repeat the code.
		return &CloseError{Code: protocol.CloseAbnormal, Err: io.ErrUnexpectedEOF}, false
	case abnormal:
		return &CloseError{Code: protocol.CloseAbnormal, Err: err}, false
	case errors.Is(err, websocket.ErrReadLimit):
		return &CloseError{Code: protocol.CloseMessageTooBig, Reason: "message too big"}, true
	}
	// A protocol violation; gorilla has usually sent 1002 already. The
	// reason is the error's text.
	reason := strings.TrimPrefix(err.Error(), "websocket: ")
	return &CloseError{Code: protocol.CloseProtocolError, Reason: truncateReason(reason)}, true
}
