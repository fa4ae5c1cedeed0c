package service

import (
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsmap/wsmap/protocol"
)

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
