package service

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/wsmap/wsmap/protocol"
)

// ErrClosed is matched (with errors.Is) by every error an operation on a
// closed or closing connection returns, including every *CloseError.
var ErrClosed = errors.New("service: connection closed")

// CloseError says how a connection ended: the close frame received from the
// peer, or, when the connection was failed locally for a protocol, size or
// encoding violation, the close frame sent to it. A connection that ended
// without a close frame (the peer vanished, a timeout) has Code 1006
// (protocol.CloseAbnormal) and Err holds the underlying cause.
//
// Handlers may also return a *CloseError to close the connection with its
// code and reason.
type CloseError struct {
	Code   protocol.CloseCode
	Reason string
	// Err is the underlying cause for a connection that ended abnormally,
	// such as io.EOF or a timeout; nil otherwise.
	Err error
}

// Error returns a one-line description such as
// `websocket closed: 1001 (going away) "server shutting down"`.
func (e *CloseError) Error() string {
	s := "websocket closed: " + e.Code.String()
	if e.Reason != "" {
		s += fmt.Sprintf(" %q", e.Reason)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause, if any.
func (e *CloseError) Unwrap() error { return e.Err }

// Is reports true for ErrClosed, so that errors.Is(err, ErrClosed) holds
// for every close.
func (e *CloseError) Is(target error) bool { return target == ErrClosed }

// CloseStatus returns the close code and reason carried by err, which may
// wrap a *CloseError. For any other error, including nil, it returns 0 and
// "".
func CloseStatus(err error) (protocol.CloseCode, string) {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code, ce.Reason
	}
	return 0, ""
}

// An Initiator says which end of a connection began closing it; see
// Conn.ClosedBy.
type Initiator uint8

// The ends that may begin closing a connection.
const (
	// InitiatorNone: the connection is open, or it ended without a
	// closing handshake begun by either end (1006: the TCP connection
	// dropped, a read timed out).
	InitiatorNone Initiator = iota
	// InitiatorLocal: this end sent the first close frame: Close,
	// CloseWithError or a handler's return, a Server's Shutdown, an
	// Observer's refusal, or a violation wsmap found.
	InitiatorLocal
	// InitiatorPeer: the peer's close frame came first.
	InitiatorPeer
)

var initiatorNames = [...]string{"none", "local", "peer"}

// String returns "none", "local" or "peer".
func (i Initiator) String() string {
	if int(i) < len(initiatorNames) {
		return initiatorNames[i]
	}
	return fmt.Sprintf("Initiator(%d)", i)
}

// ClosedBy reports which end began closing the connection: the one
// whose close frame went first. It is InitiatorNone while the
// connection is open. Middleware reads it, with Err, once the handler
// has returned, to record who closed.
func (c *Conn) ClosedBy() Initiator {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.initiated == nil || c.initiated.Code == protocol.CloseAbnormal:
		return InitiatorNone
	case c.initiated == c.peerClose:
		return InitiatorPeer
	}
	return InitiatorLocal
}

// Close performs the closing handshake with the given code and reason: it
// sends a close frame, waits up to Options.CloseTimeout for the peer's
// close frame, then drops the TCP connection. The reason is cut to
// protocol.MaxCloseReason bytes at a character boundary.
//
// Close is idempotent and safe to call from any goroutine: once the
// connection is closing, further calls wait for the first to finish and
// return nil. It returns an error, without closing, only when code may not
// be sent (protocol.CloseCode.Sendable) or reason is not valid UTF-8.
func (c *Conn) Close(code protocol.CloseCode, reason string) error {
	if !code.Sendable() {
		return fmt.Errorf("service: close code %v may not be sent", code)
	}
	if !utf8.ValidString(reason) {
		return fmt.Errorf("service: close reason %q is not valid UTF-8", reason)
	}
	c.beginClose(&CloseError{Code: code, Reason: truncateReason(reason)}, false)
	c.waitClosed()
	return nil
}

// waitClosed waits for the read loop to finish the closing handshake, and
// drops the connection if it takes longer than the close timeout.
func (c *Conn) waitClosed() {
	t := time.NewTimer(c.opts.CloseTimeout + c.opts.CloseTimeout/2)
	defer t.Stop()
	done := c.Done()
	select {
	case <-done:
	case <-t.C:
		c.abort(errors.New("service: close timeout"))
		<-done
	}
}

// beginClose moves an open connection to closing: it cancels the
// connection's context, sends ce as the close frame and bounds the wait for
// the peer's answer, which the reader reads. refused marks a close that
// refuses what the peer sent (an observer's verdict), whose outcome is ce
// unless the peer's own close frame arrives. Calls on a connection that is
// already closing only record the refusal.
func (c *Conn) beginClose(ce *CloseError, refused bool) *CloseError {
	if refused {
		c.mu.Lock()
		if c.failed == nil {
			c.failed = ce
		}
		c.mu.Unlock()
	}
	// Only the close that leaves the open state sends a close frame, so
	// the frame always carries the first reason to close, whichever
	// goroutine gets here later.
	c.stepConn(connClose, ce)
	return ce
}

// fail fails the connection (RFC 6455 section 7.1.7) for a violation
// wsmap found: it sends ce as the close frame, unless a close frame was
// sent already, and closes the TCP connection without reading further
// (see dropAfterClose). It returns the connection's outcome: ce, unless
// the peer's close frame or an earlier failure came first.
func (c *Conn) fail(ce *CloseError) *CloseError {
	c.mu.Lock()
	if c.failed == nil && c.peerClose == nil {
		c.failed = ce
	}
	c.mu.Unlock()
	c.stepConn(connFail, ce)
	return c.outcome(ce)
}

// dropAfterClose ends the TCP connection after a failure's close frame:
// the write side is shut down, so that the close frame is followed by a
// FIN, and what the peer sent and nobody read is discarded, so that
// closing the socket does not reset the connection.
func (c *Conn) dropAfterClose() {
	if cw, ok := c.guard.Conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	if c.guard != nil {
		c.guard.DiscardBuffered()
	}
}

// sendClose sends the connection's one close frame.
func (c *Conn) sendClose(code protocol.CloseCode, reason string) {
	// FormatCloseMessage gives an empty payload for 1005, which is how a
	// close without a status is answered. Where gorilla writes the
	// connection's frames, it may have sent a close frame already, for a
	// protocol error it found while reading: the write then fails with
	// ErrCloseSent. Where the frame writer writes them, gorilla's close
	// frame was refused (see frame.go) and this is the one. Either way
	// one close frame goes out.
	msg := websocket.FormatCloseMessage(int(code), reason)
	_ = c.writeControl(websocket.CloseMessage, msg, time.Now().Add(c.opts.CloseTimeout))
}

// onPeerClose is gorilla's close handler: it runs in the reading goroutine
// when a valid close frame arrives, and answers it with the same code and
// reason.
func (c *Conn) onPeerClose(code int, text string) error {
	_ = c.peerClosed(&CloseError{Code: protocol.CloseCode(code), Reason: text})
	return nil
}

// peerClosed records the peer's close frame, ce, answers it, and returns
// it.
func (c *Conn) peerClosed(ce *CloseError) *CloseError {
	c.mu.Lock()
	c.peerClose = ce
	c.mu.Unlock()
	c.beginClose(ce, false)
	return ce
}

// abort drops the TCP connection at once, without a closing handshake.
func (c *Conn) abort(cause error) {
	c.finish(c.outcome(&CloseError{Code: protocol.CloseAbnormal, Err: cause}))
}

// outcome returns the close that ends the connection: the peer's close
// frame if one arrived, else the local failure if the connection was
// failed, else def.
func (c *Conn) outcome(def *CloseError) *CloseError {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.err != nil:
		return c.err
	case c.peerClose != nil:
		return c.peerClose
	case c.failed != nil:
		return c.failed
	}
	return def
}

// finish ends the connection for good, with ce as its outcome: closes
// the TCP connection, records the outcome, cancels the context and
// releases the connection.
func (c *Conn) finish(ce *CloseError) { c.stepConn(connFinish, ce) }

// CloseWithError closes the connection as a handler returning err would
// (see Handler): nil with 1000 (normal closure), a *CloseError or a
// *MessageError, or an error wrapping one, with its code and reason,
// anything else with 1011 (internal error). Like Close, it waits for the
// closing handshake; Err then says how the connection ended. On a
// connection already closing it only waits.
//
// A handler's return value is given to it. Accepting inside an
// http.Handler, close the connection with it when done serving.
// Connection middleware that must see the outcome (to log or count close
// codes) calls it after the next handler returns.
func (c *Conn) CloseWithError(err error) {
	if c.State() == StateClosed {
		return
	}
	var ce *CloseError
	var me *MessageError
	code, reason := protocol.CloseInternalError, "internal error"
	switch {
	case err == nil:
		code, reason = protocol.CloseNormal, ""
	case errors.As(err, &ce) && ce.Code.Sendable():
		code, reason = ce.Code, ce.Reason
	case errors.As(err, &me) && me.Code.Sendable():
		code, reason = me.Code, strings.ToValidUTF8(me.Reason, "\uFFFD")
	}
	if c.Close(code, reason) != nil {
		// A reason that is not valid UTF-8.
		_ = c.Close(protocol.CloseInternalError, "internal error")
	}
}

// truncateReason cuts s to at most protocol.MaxCloseReason bytes without
// splitting a UTF-8 sequence.
func truncateReason(s string) string {
	if len(s) <= protocol.MaxCloseReason {
		return s
	}
	s = s[:protocol.MaxCloseReason]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
