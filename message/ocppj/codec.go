// Package ocppj is the OCPP-J codec of the message level: the RPC
// framework of OCPP 1.6 and 2.0.1 over WebSocket, whose messages are JSON
// arrays in text messages:
//
//	[2, "<uniqueId>", "<Action>", {<payload>}]                          CALL
//	[3, "<uniqueId>", {<payload>}]                                      CALLRESULT
//	[4, "<uniqueId>", "<errorCode>", "<errorDescription>", {<details>}] CALLERROR
//
// A Version is the codec of one version, named as its subprotocol:
//
//	p := message.New(c, ocppj.V16, router, &message.Options{MaxOutgoing: 1, MaxIncoming: 1})
//
// OCPP-J allows one call in flight each way; the Options above keep to
// it: a second call waits its turn. OCPP-J has no notifications and no
// batches: writing one fails with message.ErrNotSupported.
//
// Error codes are spelled as each version spells them: 1.6 calls a
// malformed payload FormationViolation, 2.0.1 FormatViolation; only 2.0.1
// has MessageTypeNotSupported and RpcFrameworkError; both spell
// OccurenceConstraintViolation with one r. The layer's faults are
// answered so: ErrUnknownMethod with NotImplemented; ErrInvalidParams
// with TypeConstraintViolation when a field has the wrong type, else
// FormationViolation (1.6) or FormatViolation (2.0.1); a message that is
// not an OCPP-J message (ErrMalformed, ErrInvalidMessage) with
// FormationViolation (1.6) or RpcFrameworkError (2.0.1), at the message's
// unique ID, or "-1" when it cannot be read; an unknown message type
// (ErrUnknownKind) with FormationViolation (1.6) or
// MessageTypeNotSupported (2.0.1); ErrBusy with GenericError; anything
// else with InternalError, whose description says no more than that.
//
// CallSchema, CallResultSchema and Version.ErrorSchema give JSON Schemas
// of the three messages, around an action's payload schema, for
// describing a route's subprotocol (mux.Doc, package asyncapi).
package ocppj

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/message/internal/jsontext"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// Version is an OCPP-J version, spelled as its WebSocket subprotocol. It
// is the message.Codec of that version.
type Version string

// The versions this package speaks.
const (
	V16  Version = "ocpp1.6"
	V201 Version = "ocpp2.0.1"
)

var _ message.Codec = V16

// System returns "ocpp", the name of the RPC system for telemetry
// (OpenTelemetry's rpc.system.name, which lists no value for OCPP), the
// same for every version.
func (Version) System() string { return "ocpp" }

// The message type numbers of OCPP-J.
const (
	TypeCall       = 2
	TypeCallResult = 3
	TypeCallError  = 4
)

// The CALLERROR codes. Most are in both versions; the comment names the
// one a code belongs to alone.
const (
	NotImplemented               = "NotImplemented"
	NotSupported                 = "NotSupported"
	InternalError                = "InternalError"
	ProtocolError                = "ProtocolError"
	SecurityError                = "SecurityError"
	PropertyConstraintViolation  = "PropertyConstraintViolation"
	OccurenceConstraintViolation = "OccurenceConstraintViolation"
	TypeConstraintViolation      = "TypeConstraintViolation"
	GenericError                 = "GenericError"
	FormationViolation           = "FormationViolation"      // 1.6
	FormatViolation              = "FormatViolation"         // 2.0.1
	MessageTypeNotSupported      = "MessageTypeNotSupported" // 2.0.1
	RpcFrameworkError            = "RpcFrameworkError"       // 2.0.1
)

// Codes returns the CALLERROR codes v defines, or nil for a version this
// package does not know.
func (v Version) Codes() []string {
	common := []string{NotImplemented, NotSupported, InternalError, ProtocolError, SecurityError,
		PropertyConstraintViolation, OccurenceConstraintViolation, TypeConstraintViolation, GenericError}
	switch v {
	case V16:
		return append(common, FormationViolation)
	case V201:
		return append(common, FormatViolation, MessageTypeNotSupported, RpcFrameworkError)
	}
	return nil
}

// FormatViolation returns the code v gives a payload that is not
// syntactically right: FormationViolation in 1.6, FormatViolation in
// 2.0.1.
func (v Version) FormatViolation() string {
	if v == V16 {
		return FormationViolation
	}
	return FormatViolation
}

// Error returns a CALLERROR's error with code, description and, if
// details is not nil, details written as JSON (an object; dropped if it
// cannot be written).
func Error(code, description string, details any) *message.Error {
	e := &message.Error{Code: code, Message: description}
	if details != nil {
		if raw, err := json.Marshal(details); err == nil && len(raw) > 0 && raw[0] == '{' {
			e.Data = raw
		}
	}
	return e
}

// unreadableID is the unique ID of a CALLERROR that answers a message
// whose own ID cannot be read.
const unreadableID = "-1"

// Decode reads one OCPP-J message. A binary message closes the
// connection with 1003: OCPP-J's messages are text.
func (v Version) Decode(typ protocol.MessageType, data []byte) ([]message.Message, bool, error) {
	if typ != protocol.Text {
		return nil, false, &service.CloseError{Code: protocol.CloseUnsupportedData, Reason: "OCPP-J messages are text"}
	}
	return []message.Message{decode(data)}, false, nil
}

// bad is a message that could not be read.
func bad(kind message.Kind, id string, fault error, why string) message.Message {
	return message.Message{Kind: kind, ID: id, Bad: fmt.Errorf("%w: %s", fault, why)}
}

// decode reads one message.
func decode(data []byte) message.Message {
	var elems []json.RawMessage
	if err := json.Unmarshal(data, &elems); err != nil {
		if json.Valid(data) {
			return bad(0, unreadableID, message.ErrInvalidMessage, "the message is not a JSON array")
		}
		return bad(0, unreadableID, message.ErrMalformed, "the message is not JSON")
	}
	if len(elems) < 3 {
		return bad(0, unreadableID, message.ErrInvalidMessage, "the message has fewer than 3 elements")
	}
	id := unreadableID
	var s string
	idOK := json.Unmarshal(elems[1], &s) == nil && s != ""
	if idOK {
		id = s
	}
	n, err := strconv.Atoi(string(elems[0]))
	if err != nil {
		return bad(0, id, message.ErrInvalidMessage, "the message type is not an integer")
	}
	kind := map[int]message.Kind{TypeCall: message.KindCall, TypeCallResult: message.KindResult, TypeCallError: message.KindError}[n]
	switch {
	case kind == 0:
		return bad(0, id, message.ErrUnknownKind, fmt.Sprintf("message type %d", n))
	case !idOK:
		return bad(kind, unreadableID, message.ErrInvalidMessage, "the unique ID is not a non-empty string")
	}
	switch kind {
	case message.KindCall:
		if len(elems) != 4 {
			return bad(kind, id, message.ErrInvalidMessage, "a CALL has 4 elements")
		}
		var action string
		if json.Unmarshal(elems[2], &action) != nil {
			return bad(kind, id, message.ErrInvalidMessage, "the action is not a string")
		}
		if !isObject(elems[3]) {
			m := bad(kind, id, message.ErrInvalidParams, "the payload is not an object")
			m.Method = action
			return m
		}
		return message.Message{Kind: kind, ID: id, Method: action, Payload: elems[3]}
	case message.KindResult:
		if len(elems) != 3 || !isObject(elems[2]) {
			return bad(kind, id, message.ErrInvalidMessage, "a CALLRESULT has 3 elements, the last an object")
		}
		return message.Message{Kind: kind, ID: id, Payload: elems[2]}
	}
	if len(elems) != 5 {
		return bad(kind, id, message.ErrInvalidMessage, "a CALLERROR has 5 elements")
	}
	var code, description string
	if json.Unmarshal(elems[2], &code) != nil || json.Unmarshal(elems[3], &description) != nil || !isObject(elems[4]) {
		return bad(kind, id, message.ErrInvalidMessage, "a CALLERROR has a code, a description and an object of details")
	}
	e := &message.Error{Code: code, Message: description}
	if string(elems[4]) != "{}" {
		e.Data = elems[4]
	}
	return message.Message{Kind: kind, ID: id, Err: e}
}

// isObject reports whether raw is a JSON object.
func isObject(raw json.RawMessage) bool { return len(raw) > 0 && raw[0] == '{' }

// Encode writes one message. A notification or a batch fails with
// message.ErrNotSupported.
func (v Version) Encode(msgs []message.Message, batch bool) (protocol.MessageType, []byte, error) {
	if batch || len(msgs) != 1 {
		return 0, nil, fmt.Errorf("ocppj: %w: batches", message.ErrNotSupported)
	}
	m := msgs[0]
	id := m.ID
	if id == "" {
		id = unreadableID
	}
	b := make([]byte, 0, 32+len(id)+len(m.Method)+len(m.Payload))
	switch m.Kind {
	case message.KindCall:
		b = append(b, "[2,"...)
		b = jsontext.AppendString(b, id)
		b = jsontext.AppendString(append(b, ','), m.Method)
		b = appendObject(append(b, ','), m.Payload)
	case message.KindResult:
		b = append(b, "[3,"...)
		b = jsontext.AppendString(b, id)
		b = appendObject(append(b, ','), m.Payload)
	case message.KindError:
		e := m.Err
		if e == nil {
			e = Error(InternalError, "", nil)
		}
		b = append(b, "[4,"...)
		b = jsontext.AppendString(b, id)
		b = jsontext.AppendString(append(b, ','), e.Code)
		b = jsontext.AppendString(append(b, ','), truncate(e.Message, maxDescription))
		b = appendObject(append(b, ','), e.Data)
	default:
		return 0, nil, fmt.Errorf("ocppj: %w: %v messages", message.ErrNotSupported, m.Kind)
	}
	return protocol.Text, append(b, ']'), nil
}

// maxDescription bounds a CALLERROR's description, as OCPP-J does.
const maxDescription = 255

// truncate cuts s to n bytes at most, at a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// appendObject writes a payload, {} for none.
func appendObject(b []byte, raw json.RawMessage) []byte {
	if len(raw) == 0 || string(raw) == "null" {
		return append(b, "{}"...)
	}
	return append(b, raw...)
}

// NewID returns n in decimal: a unique ID within the connection.
func (v Version) NewID(n uint64) string { return strconv.FormatUint(n, 10) }

// ErrorFor returns the CALLERROR error that answers err, as the package
// documentation lists.
func (v Version) ErrorFor(err error) *message.Error {
	var e *message.Error
	if errors.As(err, &e) {
		return e
	}
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, message.ErrUnknownMethod):
		return Error(NotImplemented, "Requested Action is not known by receiver", nil)
	case errors.Is(err, message.ErrInvalidParams) && errors.As(err, &te):
		return Error(TypeConstraintViolation, detail(err), nil)
	case errors.Is(err, message.ErrInvalidParams):
		return Error(v.FormatViolation(), detail(err), nil)
	case errors.Is(err, message.ErrMalformed), errors.Is(err, message.ErrInvalidMessage):
		if v == V16 {
			return Error(FormationViolation, detail(err), nil)
		}
		return Error(RpcFrameworkError, detail(err), nil)
	case errors.Is(err, message.ErrUnknownKind):
		if v == V16 {
			return Error(FormationViolation, detail(err), nil)
		}
		return Error(MessageTypeNotSupported, detail(err), nil)
	case errors.Is(err, message.ErrBusy):
		return Error(GenericError, "Too many calls in progress", nil)
	}
	return Error(InternalError, "An internal error occurred and the receiver was not able to process the requested Action successfully", nil)
}

// detail is a fault's text without the layer's prefix.
func detail(err error) string {
	return strings.TrimPrefix(err.Error(), "message: ")
}
