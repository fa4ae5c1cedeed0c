package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/wsmap/wsmap/protocol"
)

// A readRequest asks the read loop for the next message, whole or as a
// stream.
type readRequest struct {
	stream  bool
	handoff bool // the reader role goes to the requester's next Recv
}

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
// The message is only written into buf when ctx is the connection's own
// context or one that cannot be cancelled; otherwise it arrives in a new
// buffer.
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

// next reads the next message directly, or asks the read loop for it and
// waits (see readerRole).
func (c *Conn) next(ctx context.Context, stream bool, buf []byte) (readResult, error) {
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
	// Read directly if nothing could interrupt the read but the
	// connection's end; otherwise through the loop. The direct read runs
	// from this small frame rather than viaLoop's large one: a handler
	// waiting in Recv keeps the stack it waits on.
	done := ctx.Done()
	direct := !stream && (done == nil || done == c.ctx.Done())
	if direct && !c.pending && c.takeDirect() {
		return c.readDirect(buf)
	}
	return c.viaLoop(ctx, stream, direct)
}

// takeDirect gives the caller the reader role if nobody holds it and the
// connection is open.
func (c *Conn) takeDirect() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reader != readerNone || c.state != StateOpen {
		return false
	}
	c.reader = readerDirect
	c.setReadingLocked(true)
	return true
}

// viaLoop asks the read loop for the next message, unless an abandoned
// call asked already, and waits for it. handoff asks the loop to give the
// reader role up after this message.
func (c *Conn) viaLoop(ctx context.Context, stream, handoff bool) (readResult, error) {
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
		c.mu.Lock()
		c.ensureReaderLocked()
		c.mu.Unlock()
		select {
		case c.readReq <- readRequest{stream: stream, handoff: handoff}:
		case <-c.readEnd:
			// Reading ended (with a request of an abandoned call maybe
			// left unserved in the channel).
			return readResult{}, c.readErr
		}
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

// readDirect reads the next message on the calling goroutine, which holds
// the reader role, into buf (a new buffer if nil).
func (c *Conn) readDirect(buf []byte) (readResult, error) {
	typ, r, err := c.ws.NextReader()
	if err != nil {
		return readResult{}, c.directEnd(err)
	}
	// Only the holder of the reader role uses directReader.
	mr := &c.directReader
	*mr = messageReader{c: c, typ: protocol.MessageType(typ), r: r}
	data, err := mr.readAll(buf)
	if mr.gorillaErr != nil {
		return readResult{}, c.directEnd(mr.gorillaErr)
	}
	c.mu.Lock()
	c.giveUpReaderLocked()
	c.mu.Unlock()
	if err != nil {
		return readResult{}, err
	}
	return readResult{typ: protocol.MessageType(typ), data: data}, nil
}

// directEnd ends reading after gorilla failed a direct read, as the read
// loop would, and returns what ended it. Failing the connection lingers
// over the close, which is left to a goroutine of its own.
func (c *Conn) directEnd(err error) error {
	if ce, fail := classifyReadError(err); fail {
		go c.endClassified(ce, fail)
		<-c.readEnd
	} else {
		c.endClassified(ce, fail)
	}
	return c.readErr
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
