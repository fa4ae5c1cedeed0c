package service

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsmap/wsmap/internal/prepared"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service/internal/wire"
)

// Writing frames. Each connection has one writer of frames, which writes
// every frame it sends after the opening handshake, control frames
// included: its frame writer (c.fw, a wire.Writer) on a connection
// without compression, and gorilla on a compressed one. The functions
// below are the only ones that ask which; each does what its name says
// with the connection's writer.
//
// The two never write on the same connection: where a frame writer
// writes, gorilla neither reads nor writes after the handshake, and the
// frame guard refuses any write through it (see wire.Guard.Write).
//
// Messages go out one at a time, under the connection's write lock
// (lockWrite), which also covers setWriteDeadline, the deadline of the
// next message's writes. Control frames may go out from any goroutine
// meanwhile, each under its own deadline, between two frames of a
// message.

// setWriteDeadline sets the deadline of the next message's writes.
func (c *Conn) setWriteDeadline(t time.Time) {
	if c.fw != nil {
		c.fw.SetDeadline(t)
		return
	}
	_ = c.ws.SetWriteDeadline(t)
}

// writeMessage writes a whole message.
func (c *Conn) writeMessage(typ protocol.MessageType, data []byte) error {
	if c.fw != nil {
		return c.fw.WriteFrame(typ, data)
	}
	return c.ws.WriteMessage(int(typ), data)
}

// prepare readies prepared messages for the connection's writer, before
// the write lock is taken: gorilla writes frames it has built once for
// all connections like this one. An error is the messages', not the
// connection's.
func (c *Conn) prepare(ms []*prepared.Message) error {
	if c.fw != nil {
		return nil // the frame writer frames the payload as Send does
	}
	for _, m := range ms {
		if _, err := m.Compressed(); err != nil {
			return fmt.Errorf("service: prepared message: %w", err)
		}
	}
	return nil
}

// writePrepared writes the first prepared messages of ps, as many as go
// out in one write, and returns how many.
func (c *Conn) writePrepared(ms []*prepared.Message) (int, error) {
	if c.fw != nil {
		return wire.WriteFrames(c.fw, ms)
	}
	pm, _ := ms[0].Compressed() // made by prepare
	return 1, c.ws.WritePreparedMessage(pm)
}

// tryWritePrepared writes prepared messages at once if that needs no
// waiting (see sender.TrySend and wire.TryWriteFrames); where gorilla
// writes, none is.
func (c *Conn) tryWritePrepared(ms []*prepared.Message) (int, *wire.Tail) {
	if c.fw != nil {
		return wire.TryWriteFrames(c.fw, ms)
	}
	return 0, nil
}

// nextWriter begins a message written piece by piece.
func (c *Conn) nextWriter(typ protocol.MessageType) (io.WriteCloser, error) {
	if c.fw != nil {
		return c.fw.Stream(typ), nil
	}
	return c.ws.NextWriter(int(typ))
}

// writeControl sends a control frame of gorilla's type (PingMessage,
// PongMessage or CloseMessage) before deadline. After the close frame it
// fails with websocket.ErrCloseSent.
func (c *Conn) writeControl(msgType int, payload []byte, deadline time.Time) error {
	if c.fw != nil {
		err := c.fw.WriteControl(wire.Opcode(msgType), payload, deadline)
		if err == wire.ErrCloseSent {
			return websocket.ErrCloseSent
		}
		return err
	}
	return c.ws.WriteControl(msgType, payload, deadline)
}

// answerPing answers a ping with its payload, through the frame writer,
// as gorilla's default handler does where gorilla reads. It runs in the
// reading goroutine.
func (c *Conn) answerPing(payload []byte) error {
	err := c.writeControl(websocket.PongMessage, payload, time.Now().Add(time.Second))
	if err == nil || errors.Is(err, websocket.ErrCloseSent) {
		return nil
	}
	if _, ok := err.(net.Error); ok {
		return nil // a pong that cannot go out now is not worth failing for
	}
	return err
}
