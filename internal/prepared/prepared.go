// Package prepared is a message made once to be sent to many connections,
// and the way package room sends such messages on a service.Conn: the
// connection's Sender, which package service puts in every connection's
// context. It exists so that a broadcaster's writes are not part of the
// connection's public API.
package prepared

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/gorilla/websocket"

	"github.com/wsmap/wsmap/protocol"
)

// Message is a message made once for many connections: a broadcast sends
// one to every receiver, so that its cost beyond the writes themselves
// does not grow with their number.
//
// It holds one copy of the payload. On a connection without compression
// a frame is the payload behind a header of a few bytes (and masked with
// a key of its own, on a client), so a Sender writes the payload as Send
// would. On a compressed connection the frame is built once, on first
// use (Compressed), and reused by every compressed connection on the
// same side (gorilla's PreparedMessage), so that a message is compressed
// once however many receive it. It is safe for concurrent use.
type Message struct {
	typ  protocol.MessageType
	data []byte

	once sync.Once
	pm   *websocket.PreparedMessage
	err  error
}

// New prepares a message of the given type; data is copied, so the
// caller may reuse it.
func New(typ protocol.MessageType, data []byte) (*Message, error) {
	if !typ.Valid() {
		return nil, fmt.Errorf("invalid message type %v", typ)
	}
	return &Message{typ: typ, data: bytes.Clone(data)}, nil
}

// Frame returns the message's type and payload, for a frame writer.
func (m *Message) Frame() (protocol.MessageType, []byte) { return m.typ, m.data }

// Type returns the message's type.
func (m *Message) Type() protocol.MessageType { return m.typ }

// Len returns the length of the message's payload.
func (m *Message) Len() int { return len(m.data) }

// Compressed returns the message as gorilla writes it on compressed
// connections, made on the first call.
func (m *Message) Compressed() (*websocket.PreparedMessage, error) {
	m.once.Do(func() {
		m.pm, m.err = websocket.NewPreparedMessage(int(m.typ), m.data)
	})
	return m.pm, m.err
}

// A Sender sends prepared messages on one connection.
type Sender interface {
	// Send sends messages, in order, as the connection's Send would send
	// their payloads: waiting for other senders ends with ctx, and a
	// write that cannot finish before ctx ends or the write timeout
	// passes ends the connection. On a connection without compression,
	// messages that fit together in 4 KiB go out in one write. With no
	// message it does nothing.
	Send(ctx context.Context, ms ...*Message) error

	// TrySend sends messages from ms, in order, at once if that needs no
	// waiting: no other write is under way on the connection, and the
	// socket takes them without blocking. It returns how many it sent;
	// the caller sends the others (ms[n:]) some other way (Send, from a
	// goroutine that may wait). A connection that is closing, or has
	// failed, gives 0; Send then reports why. Several messages go out in
	// as few writes as fit.
	//
	// Messages sent with TrySend are in order with those the connection
	// sends otherwise only if the caller knows that none of its own is
	// waiting to be sent: a message queued for a writer goroutine must
	// not be overtaken.
	//
	// If the socket takes only part of the last write, the messages in
	// it count as sent and the rest is written by a goroutine of its own,
	// under the write timeout, before any other write; a failure to
	// write it ends the connection as a failed Send does. Only
	// connections without compression, over a socket with a file
	// descriptor (plain TCP, Unix), and messages that fit in 4 KiB with
	// their header are sent this way; TrySend stops at the first message
	// that does not.
	TrySend(ms ...*Message) int
}

// Key is the context key under which a connection's context holds its
// Sender.
type Key struct{}

// SenderOf returns the Sender of the connection whose context (Conn's
// Context) is ctx, and whether it has one.
func SenderOf(ctx context.Context) (Sender, bool) {
	if ctx == nil {
		return nil, false
	}
	s, ok := ctx.Value(Key{}).(Sender)
	return s, ok
}
