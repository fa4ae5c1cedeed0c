package service

import (
	"io"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service/internal/wire"
)

// control is the connection as the frame guard's wire.Control, where the
// guard reads the messages (connections without compression): the same
// handlers gorilla calls on a compressed connection.
type control Conn

func (k *control) Ping(payload []byte) error { return (*Conn)(k).answerPing(payload) }
func (k *control) Pong(payload []byte) error { return (*Conn)(k).pongIn(payload) }

// Close records the peer's close and answers it; reading returns the
// close from then on.
func (k *control) Close(code protocol.CloseCode, reason string) error {
	c := (*Conn)(k)
	return c.peerClosed(&CloseError{Code: code, Reason: reason})
}

var _ wire.Control = (*control)(nil)

// nextReader returns the next message's type and payload reader, from
// the frame guard where it reads the messages (where the frame writer
// writes them), else from gorilla.
func (c *Conn) nextReader() (protocol.MessageType, io.Reader, error) {
	if c.fw != nil {
		return c.guard.NextMessage()
	}
	typ, r, err := c.ws.NextReader()
	return protocol.MessageType(typ), r, err
}
