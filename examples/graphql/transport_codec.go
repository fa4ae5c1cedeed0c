package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// closeBadRequest is graphql-transport-ws's close for an invalid message.
const closeBadRequest protocol.CloseCode = 4400

// wireMessage is a message of either protocol as it travels: a JSON
// object with a type, an operation's ID and a payload.
type wireMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// transportCodec is the server's codec of graphql-transport-ws. It reads
// the messages a client sends, each a message.Message whose Method is
// its type, ID its id and Payload its payload: ping is a call, which the
// handler's result answers as pong; every other message is a
// notification. An invalid message, or one that only a server sends,
// fails Decode with the protocol's close, 4400 and the reason. It writes
// the server's messages from notifications (Method as the type), and a
// ping's answer as pong.
type transportCodec struct{}

// Decode reads one message of the client's.
func (transportCodec) Decode(_ protocol.MessageType, data []byte) ([]message.Message, bool, error) {
	m, err := decodeTransport(data)
	if err != nil {
		return nil, false, &service.CloseError{Code: closeBadRequest, Reason: err.Error()}
	}
	return []message.Message{m}, false, nil
}

// decodeTransport reads and checks one message, as PROTOCOL.md
// describes each type's fields.
func decodeTransport(data []byte) (message.Message, error) {
	var f map[string]json.RawMessage
	if err := json.Unmarshal(data, &f); err != nil || f == nil {
		return message.Message{}, fmt.Errorf("invalid message: not a JSON object")
	}
	var typ string
	if err := json.Unmarshal(f["type"], &typ); err != nil || !isJSONString(f["type"]) {
		return message.Message{}, fmt.Errorf(`invalid message: "type" must be a string`)
	}
	m := message.Message{Kind: message.KindNotify, Method: typ}
	switch typ {
	case "connection_init", "ping", "pong":
		p, err := optionalObject(typ, "payload", f["payload"])
		if err != nil {
			return message.Message{}, err
		}
		m.Payload = p
		if typ == "ping" {
			m.Kind = message.KindCall
		}
	case "subscribe":
		id, err := operationID(typ, f["id"])
		if err != nil {
			return message.Message{}, err
		}
		if err := checkRequest(typ, f["payload"]); err != nil {
			return message.Message{}, err
		}
		m.ID, m.Payload = id, f["payload"]
	case "complete":
		id, err := operationID(typ, f["id"])
		if err != nil {
			return message.Message{}, err
		}
		m.ID = id
	case "connection_ack", "next", "error":
		return message.Message{}, fmt.Errorf("unexpected message of type %q from a client", typ)
	default:
		return message.Message{}, fmt.Errorf("unknown message type %q", typ)
	}
	return m, nil
}

// Encode writes one message of the server's.
func (transportCodec) Encode(msgs []message.Message, batch bool) (protocol.MessageType, []byte, error) {
	if batch || len(msgs) != 1 {
		return 0, nil, fmt.Errorf("%w: graphql-transport-ws has no batches", message.ErrNotSupported)
	}
	m := msgs[0]
	w := wireMessage{ID: m.ID, Type: m.Method, Payload: m.Payload}
	switch m.Kind {
	case message.KindNotify:
	case message.KindResult: // the answer to a ping
		w = wireMessage{Type: "pong", Payload: m.Payload}
	default:
		return 0, nil, fmt.Errorf("%w: graphql-transport-ws has no %s messages", message.ErrNotSupported, m.Kind)
	}
	b, err := json.Marshal(w)
	return protocol.Text, b, err
}

// NewID returns n in decimal; the server makes no calls.
func (transportCodec) NewID(n uint64) string { return strconv.FormatUint(n, 10) }

// ErrorFor returns err's *message.Error, or an internal error. The
// protocol answers no message with an error: nothing it returns is sent.
func (transportCodec) ErrorFor(err error) *message.Error {
	return internalError(err)
}

// internalError returns err's *message.Error, if it is or wraps one,
// else an error of code "internal".
func internalError(err error) *message.Error {
	if e, ok := err.(*message.Error); ok {
		return e
	}
	return &message.Error{Code: "internal", Message: "internal error"}
}

// operationID reads a message's id, which must be a non-empty string.
func operationID(typ string, raw json.RawMessage) (string, error) {
	var id string
	if !isJSONString(raw) || json.Unmarshal(raw, &id) != nil || id == "" {
		return "", fmt.Errorf(`invalid %s message: "id" must be a non-empty string`, typ)
	}
	return id, nil
}

// checkRequest checks a subscribe's (or start's) payload: an object with
// a query string, and variables, operationName and extensions each
// absent, null or of its type.
func checkRequest(typ string, raw json.RawMessage) error {
	var p map[string]json.RawMessage
	if !isJSONObject(raw) || json.Unmarshal(raw, &p) != nil {
		return fmt.Errorf(`invalid %s message: "payload" must be an object`, typ)
	}
	if !isJSONString(p["query"]) {
		return fmt.Errorf(`invalid %s message: "payload.query" must be a string`, typ)
	}
	if v := p["operationName"]; !isAbsent(v) && !isJSONString(v) {
		return fmt.Errorf(`invalid %s message: "payload.operationName" must be a string or null`, typ)
	}
	for _, k := range []string{"variables", "extensions"} {
		if v := p[k]; !isAbsent(v) && !isJSONObject(v) {
			return fmt.Errorf(`invalid %s message: "payload.%s" must be an object or null`, typ, k)
		}
	}
	return nil
}

// optionalObject returns a payload that may be absent, null or an
// object: nil for the first two.
func optionalObject(typ, field string, raw json.RawMessage) (json.RawMessage, error) {
	switch {
	case isAbsent(raw):
		return nil, nil
	case isJSONObject(raw):
		return raw, nil
	}
	return nil, fmt.Errorf(`invalid %s message: %q must be an object or null`, typ, field)
}

// isAbsent reports whether a field is missing or null.
func isAbsent(raw json.RawMessage) bool {
	return raw == nil || bytes.Equal(raw, []byte("null"))
}

// isJSONString reports whether raw, valid JSON, is a string.
func isJSONString(raw json.RawMessage) bool { return len(raw) > 0 && raw[0] == '"' }

// isJSONObject reports whether raw, valid JSON, is an object.
func isJSONObject(raw json.RawMessage) bool { return len(raw) > 0 && raw[0] == '{' }
