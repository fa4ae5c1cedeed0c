package message

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/wsmap/wsmap/protocol"
)

// Kind says what a message is.
type Kind uint8

// The kinds of message a Codec reads and writes.
const (
	// KindCall is a request that the peer answers, by its ID, with a
	// KindResult or a KindError.
	KindCall Kind = iota + 1
	// KindNotify is a request that is not answered: a JSON-RPC
	// notification, or a message of a protocol of typed messages (its
	// Method is the type).
	KindNotify
	// KindResult is the answer to a call.
	KindResult
	// KindError is the error that answers a call.
	KindError
)

var kindNames = [...]string{"", "call", "notify", "result", "error"}

// String returns "call", "notify", "result" or "error".
func (k Kind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// Message is one message of a protocol, as a Codec reads it from a frame
// and writes it to one.
type Message struct {
	Kind Kind

	// ID correlates a call with its answer, in the codec's own form (a
	// JSON-RPC ID is kept as its JSON text: 7, "a7", null; an OCPP-J
	// unique ID as its string). A JSON-RPC notification has none (""); a
	// typed message may carry one (the operation a GraphQL over
	// WebSocket message is about).
	ID string

	// Method names what a call or a notification asks for: JSON-RPC's
	// method, OCPP-J's action, the type of a typed message.
	Method string

	// Payload is a call's or notification's parameters, or a result, as
	// JSON; nil for none.
	Payload json.RawMessage

	// Err is the error of a KindError message.
	Err *Error

	// Bad, set by Codec.Decode, says why the message could not be read:
	// it wraps ErrMalformed, ErrInvalidMessage or ErrUnknownKind. Kind
	// and ID are what could be read of it; a Bad message whose Kind is a
	// call, or unknown (0), is answered with the protocol's error, at ID.
	Bad error
}

// Error is an error message of a protocol: its code, as the protocol
// spells it, a description and details. A handler returns one to answer
// a call with it; Call returns the one the peer answered with.
type Error struct {
	// Code is the protocol's error code: "NotImplemented" in OCPP-J,
	// "-32601" in JSON-RPC (whose codes are integers).
	Code string
	// Message describes the error for people.
	Message string
	// Data holds the error's details as JSON (OCPP-J's errorDetails,
	// JSON-RPC's data); nil for none.
	Data json.RawMessage
}

// Error returns the code and the description.
func (e *Error) Error() string {
	if e.Message == "" {
		return "message: error " + e.Code
	}
	return "message: error " + e.Code + ": " + e.Message
}

// The faults of the message level, which a Codec turns into its
// protocol's error messages (see Codec.ErrorFor). Errors that wrap them
// are matched with errors.Is.
var (
	// ErrMalformed: a frame that holds no message at all (not JSON, say).
	ErrMalformed = errors.New("message: malformed message")
	// ErrInvalidMessage: a message of the wrong shape (no method, an ID
	// of the wrong type).
	ErrInvalidMessage = errors.New("message: invalid message")
	// ErrUnknownKind: a kind of message the protocol does not define,
	// such as an OCPP-J message type number other than 2, 3 and 4.
	ErrUnknownKind = errors.New("message: unknown kind of message")
	// ErrUnknownMethod: a call or notification of a method no handler
	// serves.
	ErrUnknownMethod = errors.New("message: unknown method")
	// ErrInvalidParams: parameters the handler cannot read.
	ErrInvalidParams = errors.New("message: invalid parameters")
	// ErrBusy: a call that arrived while as many calls as the bound
	// allows were waiting their turn.
	ErrBusy = errors.New("message: too many calls in progress")
	// ErrNotSupported: a kind of message the codec cannot write, such
	// as a notification in OCPP-J.
	ErrNotSupported = errors.New("message: not supported by the protocol")
	// ErrUnexpectedAnswer: a result or an error that answers no call in
	// progress, such as one that came after its call's timeout.
	ErrUnexpectedAnswer = errors.New("message: answer to no call in progress")
	// ErrTimeout is wrapped by Call's error when no answer came within
	// Options.CallTimeout.
	ErrTimeout = errors.New("message: no answer within the call timeout")
)

// A Codec reads and writes the messages of one protocol. Its methods are
// called from several goroutines at once.
//
// A Codec may also have a method System() string, the name of its RPC
// system for telemetry (OpenTelemetry's rpc.system.name): "jsonrpc" for
// package jsonrpc's, "ocpp" for package ocppj's. Peer.Codec returns it
// to those that look, such as OnCall's tracing.
type Codec interface {
	// Decode reads one received frame. It returns the messages it holds
	// (one, or a JSON-RPC batch's), and whether they were a batch, whose
	// answers go back together, in one frame. A message that cannot be
	// read is returned with Bad set, and answered as the protocol says.
	// An error is returned for a frame the protocol answers by closing
	// the connection (a binary frame in a text protocol, an invalid
	// message in one that closes on any): a *service.CloseError, with
	// which the connection is closed and Serve returns.
	Decode(typ protocol.MessageType, data []byte) (msgs []Message, batch bool, err error)

	// Encode writes msgs as one frame: a batch if batch is set, else the
	// one message. It returns ErrNotSupported (wrapped) for a message the
	// protocol cannot carry.
	Encode(msgs []Message, batch bool) (protocol.MessageType, []byte, error)

	// NewID returns the ID of the n-th call this side makes (from 1), in
	// the codec's form; IDs must differ for different n.
	NewID(n uint64) string

	// ErrorFor returns the error message the protocol answers err with:
	// err itself if it is (or wraps) an *Error, else the protocol's error
	// for the fault it wraps (ErrUnknownMethod, ErrInvalidParams, …), and
	// the protocol's internal error for anything else.
	ErrorFor(err error) *Error
}
