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

// Reading. Exactly one goroutine at a time reads from gorilla, whose
// reader is not safe for concurrent use: the reader role, guarded by
// c.mu, says which.
//
// The common case is a handler that receives with the connection's own
// context (or one that cannot be cancelled): its Recv reads directly, on
// the handler's goroutine, with nothing in between. Such a read can only
// end with a message or with the connection's end, which is also when
// that context ends, so nothing is lost by not being able to interrupt it.
//
// When nobody has read for readAheadDelay, or a receive must be
// interruptible (another context, or a Reader stream), or the connection
// is closing, the read loop takes the role: a goroutine that reads and
// hands messages over to Recv and Reader through channels, and that keeps
// pings answered and the peer's close seen while the application does not
// read. A direct Recv takes the role back by asking the loop for one last
// message (readRequest.handoff).
type readerRole uint8

const (
	readerUnstarted readerRole = iota // the connection has not started yet
	readerNone                        // nobody reads; the turn timer is armed
	readerDirect                      // a Recv reads on its own goroutine
	readerLoop                        // the read loop runs
	readerEnded                       // reading has ended for good
)

// startLoopLocked gives the reader role to a new read loop. The
// channels to the loop are made when the first loop starts: a connection
// whose handler only ever reads directly does without them. Receivers
// see them after taking c.mu, or through readSem from one that did.
func (c *Conn) startLoopLocked() {
	if c.readReq == nil {
		c.readReq = make(chan readRequest, 1)
		c.readRes = make(chan readResult, 1)
	}
	c.reader = readerLoop
	c.setReadingLocked(true)
	go c.readLoop()
}

// ensureReaderLocked starts the read loop if nobody reads: on closing,
// so that the peer's close frame is read, and when the turn timer fires.
func (c *Conn) ensureReaderLocked() {
	if c.reader == readerNone {
		c.startLoopLocked()
	}
}

// giveUpReaderLocked leaves the reader role free after a message was
// delivered, and arms the turn timer: if nobody reads within
// readAheadDelay, the read loop starts. Closing, the loop starts at once.
func (c *Conn) giveUpReaderLocked() {
	if c.state != StateOpen {
		c.startLoopLocked()
		return
	}
	c.reader = readerNone
	c.setReadingLocked(false)
	c.turnAt = time.Since(c.born)
	if c.turnArmed {
		return // it re-arms itself for the remaining time when it fires
	}
	c.turnArmed = true
	if c.turnTimer == nil {
		c.turnTimer = time.AfterFunc(readAheadDelay, c.onTurnTimer)
	} else {
		c.turnTimer.Reset(readAheadDelay)
	}
}

// onTurnTimer starts the read loop if nobody has read for readAheadDelay.
func (c *Conn) onTurnTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.turnArmed = false
	if c.reader != readerNone {
		return
	}
	if idle := time.Since(c.born) - c.turnAt; idle < readAheadDelay {
		c.turnArmed = true
		c.turnTimer.Reset(readAheadDelay - idle)
		return
	}
	c.startLoopLocked()
}

// readLoop reads from the connection while it holds the reader role,
// handing messages to Recv and Reader. Control frames are handled by
// gorilla inside NextReader and the message readers, so they are seen
// whenever the loop or a stream consumer is reading.
//
// After handing out a message, the loop waits up to readAheadDelay for the
// next request before it reads on. A handler that answers each message
// before asking for the next one so has its answer sent before the loop
// reacts to whatever follows, such as a protocol violation that closes
// the connection; and a handler busy elsewhere still has pings answered
// and closes seen within the delay. The loop returns, leaving the role,
// when a request asks for the handoff.
func (c *Conn) readLoop() {
	var pause *time.Timer
	var req *readRequest // a request taken before its message was read
	for {
		typ, r, err := c.ws.NextReader()
		if err != nil {
			c.endRead(err)
			return
		}
		handoff, err := c.deliver(protocol.MessageType(typ), r, req)
		if err != nil {
			c.endRead(err)
			return
		}
		if handoff {
			return // the role was given up in deliver
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
		c.setReading(false)
		select {
		case next := <-c.readReq:
			req = &next
		case <-pause.C:
		case <-c.closing:
		}
		pause.Stop()
		c.setReading(true)
	}
}

// readAheadDelay is how long a received message's turn lasts: nobody
// reads from the connection until the application asks for the next
// message or this delay passes.
const readAheadDelay = 500 * time.Millisecond

// deliver hands one message to whoever asks for it, or to taken if a
// request was taken already, and reports whether it gave the reader role
// up at that request's asking, in which case the loop must return. It
// returns an error only when gorilla failed, which
// ends reading.
func (c *Conn) deliver(typ protocol.MessageType, r io.Reader, taken *readRequest) (handoff bool, err error) {
	mr := &messageReader{c: c, typ: typ, r: r, done: make(chan struct{})}
	var req readRequest
	if taken != nil {
		req = *taken
	} else {
		select {
		case req = <-c.readReq:
		default:
			c.setReading(false)
			select {
			case req = <-c.readReq:
			case <-c.closing:
				// Closing: messages are no longer delivered.
				c.setReading(true)
				return false, mr.discard()
			}
			c.setReading(true)
		}
	}
	if !req.stream {
		data, err := mr.readAll(nil)
		if req.handoff && mr.gorillaErr == nil {
			// Give the role up before the message is handed over, so
			// that the requester's next Recv finds it free.
			c.mu.Lock()
			handoff = c.state == StateOpen
			if handoff {
				c.giveUpReaderLocked()
			}
			c.mu.Unlock()
		}
		c.readRes <- readResult{typ: typ, data: data, err: err}
		return handoff, mr.gorillaErr
	}
	c.readRes <- readResult{typ: typ, r: mr}
	select {
	case <-mr.done:
	case <-c.closing:
		mr.release()
	}
	return false, mr.gorillaErr
}

// endRead handles the error that ended reading: it fails the connection
// when the error is a protocol violation, publishes the outcome to
// receivers, and finishes the connection.
func (c *Conn) endRead(err error) {
	c.endClassified(classifyReadError(err))
}

// endClassified is endRead once the error is classified.
func (c *Conn) endClassified(ce *CloseError, fail bool) {
	c.mu.Lock()
	c.reader = readerEnded
	c.reading = false
	c.mu.Unlock()
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
	// The chain is walked by hand: errors.As would move each target
	// variable to the heap, on every connection's end.
	var wce *websocket.CloseError
	abnormal := false
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch t := e.(type) {
		case *frameError:
			return &CloseError{Code: t.code, Reason: t.reason, Err: err}, true
		case *websocket.CloseError:
			if wce == nil {
				wce = t
			}
		case net.Error:
			abnormal = true
		}
		if e == io.EOF || e == io.ErrUnexpectedEOF || e == net.ErrClosed {
			abnormal = true
		}
	}
	if wce != nil && wce.Code != websocket.CloseAbnormalClosure {
		// The peer's close frame; gorilla has called onPeerClose.
		return &CloseError{Code: protocol.CloseCode(wce.Code), Reason: wce.Text}, false
	}
	abnormal = abnormal || wce != nil
	switch {
	case abnormal:
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
