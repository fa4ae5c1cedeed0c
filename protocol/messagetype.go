package protocol

import "strconv"

// MessageType is the type of a WebSocket data message. Its values are the
// frame opcodes of RFC 6455 section 5.2.
type MessageType int

// The data message types.
const (
	// Text is a message whose payload is UTF-8 text.
	Text MessageType = 1
	// Binary is a message whose payload is arbitrary bytes.
	Binary MessageType = 2
)

// Valid reports whether t is Text or Binary.
func (t MessageType) Valid() bool { return t == Text || t == Binary }

// String returns "text", "binary", or "MessageType(n)" for anything else.
func (t MessageType) String() string {
	switch t {
	case Text:
		return "text"
	case Binary:
		return "binary"
	}
	return "MessageType(" + strconv.Itoa(int(t)) + ")"
}
