package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/protocol"
)

// legacyCodec is the server's codec of the legacy graphql-ws protocol
// (subscriptions-transport-ws). It reads the messages a client sends,
// each a notification whose Method is its type, ID its id and Payload
// its payload. A message it cannot use is returned Bad, and the peer
// answers it as the protocol says, through ErrorFor and Encode: one that
// is not JSON with connection_error, one of a type a client does not
// send (or of the wrong shape) with error, at its id. It writes the
// server's messages from notifications (Method as the type) and those
// answers.
type legacyCodec struct{}

// The messages a legacy client's bad message is answered with.
const (
	legacyConnectionError = "connection_error"
	legacyError           = "error"
	legacyInvalidType     = "Invalid message type!"
)

// badMessage is a message the codec cannot use: Kind is the fault
// (message.ErrMalformed, ErrUnknownKind or ErrInvalidMessage) and
// Reason what the client is told.
type badMessage struct {
	Kind   error
	Reason string
}

func (e *badMessage) Error() string { return e.Kind.Error() + ": " + e.Reason }
func (e *badMessage) Unwrap() error { return e.Kind }

// Decode reads one message of the client's.
func (legacyCodec) Decode(_ protocol.MessageType, data []byte) ([]message.Message, bool, error) {
	return []message.Message{decodeLegacy(data)}, false, nil
}

// decodeLegacy reads and checks one message.
func decodeLegacy(data []byte) message.Message {
	var f map[string]json.RawMessage
	if err := json.Unmarshal(data, &f); err != nil || f == nil {
		return message.Message{Bad: &badMessage{message.ErrMalformed, "message is not a JSON object"}}
	}
	var id, typ string
	if v := f["id"]; isJSONString(v) {
		_ = json.Unmarshal(v, &id)
	}
	if v := f["type"]; isJSONString(v) {
		_ = json.Unmarshal(v, &typ)
	}
	m := message.Message{Kind: message.KindNotify, Method: typ, ID: id}
	switch typ {
	case "connection_init", "connection_terminate":
		m.ID = ""
		if !isAbsent(f["payload"]) {
			m.Payload = f["payload"]
		}
	case "start":
		if err := checkLegacyID(typ, f["id"]); err != nil {
			return message.Message{ID: id, Bad: err}
		}
		if err := checkRequest(typ, f["payload"]); err != nil {
			return message.Message{ID: id, Bad: &badMessage{message.ErrInvalidMessage, err.Error()}}
		}
		m.Payload = f["payload"]
	case "stop":
		if err := checkLegacyID(typ, f["id"]); err != nil {
			return message.Message{ID: id, Bad: err}
		}
	default:
		return message.Message{ID: id, Bad: &badMessage{message.ErrUnknownKind, legacyInvalidType}}
	}
	return m
}

// checkLegacyID checks that a message has a non-empty string id.
func checkLegacyID(typ string, raw json.RawMessage) error {
	if _, err := operationID(typ, raw); err != nil {
		return &badMessage{message.ErrInvalidMessage, err.Error()}
	}
	return nil
}

// Encode writes one message of the server's: a notification with Method
// as its type, or an error answer with the error's Code as its type and
// {"message": …} as its payload.
func (legacyCodec) Encode(msgs []message.Message, batch bool) (protocol.MessageType, []byte, error) {
	if batch || len(msgs) != 1 {
		return 0, nil, fmt.Errorf("%w: graphql-ws has no batches", message.ErrNotSupported)
	}
	m := msgs[0]
	w := wireMessage{ID: m.ID, Type: m.Method, Payload: m.Payload}
	switch m.Kind {
	case message.KindNotify:
	case message.KindError:
		p, err := json.Marshal(struct {
			Message string `json:"message"`
		}{m.Err.Message})
		if err != nil {
			return 0, nil, err
		}
		w = wireMessage{ID: m.ID, Type: m.Err.Code, Payload: p}
	default:
		return 0, nil, fmt.Errorf("%w: graphql-ws has no %s messages", message.ErrNotSupported, m.Kind)
	}
	b, err := json.Marshal(w)
	return protocol.Text, b, err
}

// NewID returns n in decimal; the server makes no calls.
func (legacyCodec) NewID(n uint64) string { return strconv.FormatUint(n, 10) }

// ErrorFor returns the answer to a bad message: connection_error for
// one that is not JSON, error for the others, each with the reason.
func (legacyCodec) ErrorFor(err error) *message.Error {
	var bad *badMessage
	switch {
	case errors.As(err, &bad) && errors.Is(err, message.ErrMalformed):
		return &message.Error{Code: legacyConnectionError, Message: bad.Reason}
	case errors.As(err, &bad):
		return &message.Error{Code: legacyError, Message: bad.Reason}
	case errors.Is(err, message.ErrUnknownMethod):
		return &message.Error{Code: legacyError, Message: legacyInvalidType}
	}
	e := internalError(err)
	return &message.Error{Code: legacyError, Message: e.Message}
}
