package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsmap/wsmap/protocol"
)

// A readRequest asks the read loop for the next message, whole or as a
// stream.
type readRequest struct{ stream bool }

// A readResult answers a readRequest.
type readResult struct {
	typ  protocol.MessageType
	data []byte         // whole messages
	r    *messageReader // streams
	err  error
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
// If ctx ends first, Recv returns ctx.Err(); the connection stays usable
// and no message is lost: the one being received goes to the next Recv.
func (c *Conn) Recv(ctx context.Context) (protocol.MessageType, []byte, error) {
	res, err := c.next(ctx, false)
	if err != nil {
		return 0, nil, err
	}
	if res.r != nil { // a Reader call was abandoned before this one
		data, err := res.r.readAll()
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
	res, err := c.next(ctx, true)
	if err != nil {
		return 0, nil, err
	}
	if res.r == nil { // a Recv call was abandoned before this one
		return res.typ, bytes.NewReader(res.data), nil
	}
	return res.typ, res.r, nil
}

// RecvJSON receives a text message and decodes it as JSON into v.
func (c *Conn) RecvJSON(ctx context.Context, v any) error {
	typ, data, err := c.Recv(ctx)
	if err != nil {
		return err
	}
	if typ != protocol.Text {
		return fmt.Errorf("service: RecvJSON: got a %v message, want text", typ)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("service: RecvJSON: %w", err)
	}
	return nil
}

// next asks the read loop for the next message and waits for it.
func (c *Conn) next(ctx context.Context, stream bool) (readResult, error) {
	select {
	case c.readSem <- struct{}{}:
	case <-ctx.Done():
		return readResult{}, c.ctxErr(ctx)
	}
	defer func() { <-c.readSem }()

	if c.stream != nil {
		c.stream.release() // the loop discards what is left of it
		c.stream = nil
	}
	if !c.pending {
		if c.State() != StateOpen {
			// The loop serves no requests once closing: wait for it.
			select {
			case <-c.readEnd:
				return readResult{}, c.readErr
			case <-ctx.Done():
				return readResult{}, c.ctxErr(ctx)
			}
		}
		c.readReq <- readRequest{stream: stream}
		c.pending = true
	}
	select {
	case res := <-c.readRes:
		return c.took(res)
	case <-c.readEnd:
		select {
		case res := <-c.readRes:
			return c.took(res)
		default:
		}
		c.pending = false
		return readResult{}, c.readErr
	case <-ctx.Done():
		if c.State() != StateOpen {
			// Typically ctx is the connection's own context, cancelled
			// because the connection is closing: report the close.
			select {
			case res := <-c.readRes:
				return c.took(res)
			default:
			}
			return readResult{}, c.closedErr()
		}
		return readResult{}, ctx.Err()
	}
}

func (c *Conn) took(res readResult) (readResult, error) {
	c.pending = false
	if res.err != nil {
		return readResult{}, res.err
	}
	if res.r != nil {
		c.stream = res.r
	}
	return res, nil
}

// readLoop reads from the connection for its whole life, handing messages
// to Recv and Reader. Control frames are handled by gorilla inside
// NextReader and the message readers, so they are seen whenever the loop
// or a stream consumer is reading.
//
// After handing out a message, the loop waits up to readAheadDelay for the
// next request before it reads on. A handler that answers each message
// before asking for the next one so has its answer sent before the loop
// reacts to whatever follows, such as a protocol violation that closes
// the connection; and a handler busy elsewhere still has pings answered
// and closes seen within the delay.
func (c *Conn) readLoop() {
	defer close(c.loopEnd)
	var pause *time.Timer
	var req *readRequest // a request taken before its message was read
	for {
		typ, r, err := c.ws.NextReader()
		if err != nil {
			c.endRead(err)
			return
		}
		if err := c.deliver(protocol.MessageType(typ), r, req); err != nil {
			c.endRead(err)
			return
		}
		req = nil
		select {
		case next := <-c.readReq:
			req = &next
			continue
		default:
		}
		if pause == nil {
			pause = time.NewTimer(readAheadDelay)
		} else {
			pause.Reset(readAheadDelay)
		}
		c.setLoopWaiting(true)
		select {
		case next := <-c.readReq:
			req = &next
		case <-pause.C:
		case <-c.closing:
		}
		pause.Stop()
		c.setLoopWaiting(false)
	}
}

// readAheadDelay is how long the read loop waits for the next request
// after handing out a message before it reads on regardless.
const readAheadDelay = 500 * time.Millisecond

// deliver hands one message to whoever asks for it, or to taken if a
// request was taken already. It returns an error only when gorilla
// failed, which ends reading.
func (c *Conn) deliver(typ protocol.MessageType, r io.Reader, taken *readRequest) error {
	mr := &messageReader{c: c, typ: typ, r: r, done: make(chan struct{})}
	var req readRequest
	if taken != nil {
		req = *taken
	} else {
		select {
		case req = <-c.readReq:
		default:
			c.setLoopWaiting(true)
			select {
			case req = <-c.readReq:
			case <-c.closing:
				// Closing: messages are no longer delivered.
				c.setLoopWaiting(false)
				return mr.discard()
			}
			c.setLoopWaiting(false)
		}
	}
	if !req.stream {
		data, err := mr.readAll()
		c.readRes <- readResult{typ: typ, data: data, err: err}
		return mr.gorillaErr
	}
	c.readRes <- readResult{typ: typ, r: mr}
	select {
	case <-mr.done:
	case <-c.closing:
		mr.release()
	}
	return mr.gorillaErr
}

// endRead handles the error that ended reading: it fails the connection
// when the error is a protocol violation, publishes the outcome to
// receivers, and finishes the connection.
func (c *Conn) endRead(err error) {
	ce, fail := classifyReadError(err)
	if fail {
		c.beginClose(ce, true)
	}
	ce = c.outcome(ce)
	c.readErr = ce
	close(c.readEnd)
	if fail {
		c.linger()
	}
	c.finish(ce)
}

// classifyReadError turns an error from gorilla's reader into the close it
// stands for, and says whether the connection must be failed with it.
func classifyReadError(err error) (ce *CloseError, fail bool) {
	var wce *websocket.CloseError
	var ne net.Error
	var fe *frameError
	switch {
	case errors.As(err, &fe):
		return &CloseError{Code: fe.code, Reason: fe.reason, Err: err}, true
	case errors.As(err, &wce) && wce.Code != websocket.CloseAbnormalClosure:
		// The peer's close frame; gorilla has called onPeerClose.
		return &CloseError{Code: protocol.CloseCode(wce.Code), Reason: wce.Text}, false
	case errors.As(err, &wce), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.As(err, &ne):
		return &CloseError{Code: protocol.CloseAbnormal, Err: err}, false
	case errors.Is(err, websocket.ErrReadLimit):
		return &CloseError{Code: protocol.CloseMessageTooBig, Reason: "message too big", Err: err}, true
	}
	// A protocol violation; gorilla has usually sent 1002 already.
	reason := strings.TrimPrefix(err.Error(), "websocket: ")
	return &CloseError{Code: protocol.CloseProtocolError, Reason: truncateReason(reason), Err: err}, true
}

// linger waits, after failing the connection, for the peer to see the
// close frame. gorilla's reader is unusable by then, so the socket is
// half-closed and drained until the peer closes or the close timeout
// passes; closing it with unread data would reset the connection and
// could destroy the close frame in flight.
func (c *Conn) linger() {
	if cw, ok := c.netConn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.netConn.SetReadDeadline(time.Now().Add(c.opts.CloseTimeout))
	buf := make([]byte, 512)
	for {
		if _, err := c.netConn.Read(buf); err != nil {
			return
		}
	}
}

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

// messageReader reads one message's payload, applying the read limit and
// the UTF-8 check, for the read loop (Recv) or a consumer (Reader).
type messageReader struct {
	c    *Conn
	typ  protocol.MessageType
	r    io.Reader
	done chan struct{} // closed when the consumer is finished with it

	mu         sync.Mutex // held during Read; guards the fields below
	n          int64
	utf8       utf8Checker
	err        error // sticky
	gorillaErr error // the error from gorilla, which ends reading
	released   bool
}

// Read reads the payload, returning io.EOF at its end. A violation of the
// read limit or of UTF-8 fails the connection and returns the *CloseError.
func (m *messageReader) Read(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return 0, m.err
	}
	if m.released {
		return 0, fmt.Errorf("service: message reader used after the next Recv or Reader: %w", io.ErrClosedPipe)
	}
	n, err := m.r.Read(p)
	m.n += int64(n)
	switch {
	case m.c.opts.ReadLimit > 0 && m.n > m.c.opts.ReadLimit:
		m.err = m.c.beginClose(&CloseError{Code: protocol.CloseMessageTooBig, Reason: "message too big"}, true)
		return 0, m.err
	case m.typ == protocol.Text && !m.utf8.check(p[:n]):
		m.err = m.c.beginClose(&CloseError{Code: protocol.CloseInvalidPayload, Reason: "invalid UTF-8 in text message"}, true)
		return 0, m.err
	case err == io.EOF:
		if m.typ == protocol.Text && !m.utf8.complete() {
			m.err = m.c.beginClose(&CloseError{Code: protocol.CloseInvalidPayload, Reason: "invalid UTF-8 in text message"}, true)
			return 0, m.err
		}
		if ce := m.c.received(m.typ, m.n); ce != nil {
			m.err = m.c.beginClose(ce, true)
			return 0, m.err
		}
		m.err = io.EOF
		m.finishLocked()
	case err != nil:
		m.gorillaErr = err
		ce, fail := classifyReadError(err)
		if fail {
			ce = m.c.beginClose(ce, true)
		}
		m.err = ce
		m.finishLocked()
		return n, m.err
	}
	return n, err
}

// readAll reads the whole payload.
func (m *messageReader) readAll() ([]byte, error) {
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := m.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// discard reads and drops the rest of the payload, returning gorilla's
// error if reading fails.
func (m *messageReader) discard() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := io.Copy(io.Discard, m.r); err != nil {
		m.gorillaErr = err
	}
	m.released = true
	m.finishLocked()
	return m.gorillaErr
}

// release marks the consumer finished: later Reads fail and the read loop
// moves on (gorilla skips whatever was not read).
func (m *messageReader) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.released = true
	m.finishLocked()
}

func (m *messageReader) finishLocked() {
	select {
	case <-m.done:
	default:
		close(m.done)
	}
}
