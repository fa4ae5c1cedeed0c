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
