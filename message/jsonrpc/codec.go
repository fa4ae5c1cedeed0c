// Package jsonrpc is the JSON-RPC 2.0 codec of the message level: one
// request, response or batch per WebSocket message, as the JSON-RPC 2.0
// specification defines them.
//
//	p := message.New(c, jsonrpc.Codec{}, router, nil)
//	return p.Serve(ctx)
//
// A message.Message's ID is the JSON text of the request's id (7,
// "a7", null); Payload is params or result. Error codes are integers,
// kept in message.Error.Code as their decimal text: Error and Code
// convert. The layer's faults are answered with the specification's
// codes: ErrMalformed with -32700 (parse error), ErrInvalidMessage and
// ErrUnknownKind with -32600 (invalid request), ErrUnknownMethod with
// -32601, ErrInvalidParams with -32602, ErrBusy with -32000 and anything
// else with -32603 (internal error), whose message says no more than
// that: a handler's own error text is not sent.
//
// Batches are read and answered as the specification says: the answers
// to a batch's calls go back in one array, after every call of it is
// handled, and a batch of notifications only is not answered; an empty
// batch is answered with one invalid request error. Peer.Send with
// several messages writes a batch.
package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/message/internal/jsontext"
	"github.com/wsmap/wsmap/protocol"
)

// The error codes the JSON-RPC 2.0 specification defines.
const (
	ParseError     = -32700
	InvalidRequest = -32600
	MethodNotFound = -32601
	InvalidParams  = -32602
	InternalError  = -32603
	// ServerBusy, in the range the specification leaves to
	// implementations (-32000 to -32099), answers a call refused for
	// message.ErrBusy.
	ServerBusy = -32000
)

// Codec is the JSON-RPC 2.0 codec. The zero value is ready to use.
type Codec struct{}

var _ message.Codec = Codec{}

// System returns "jsonrpc", the name OpenTelemetry's RPC conventions
// give JSON-RPC (rpc.system.name).
func (Codec) System() string { return "jsonrpc" }

// wire is a request or response object as read, each member as its JSON
// text: nil when absent, "null" when null.
type wire struct {
	JSONRPC json.RawMessage `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  json.RawMessage `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   json.RawMessage `json:"error"`
}

// wireError is a response's error object.
type wireError struct {
	Code    json.RawMessage `json:"code"`
	Message *string         `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// Decode reads a request, a response or a batch of them. Text and binary
// messages are read alike.
func (Codec) Decode(_ protocol.MessageType, data []byte) ([]message.Message, bool, error) {
	data = bytes.TrimSpace(data)
	if !json.Valid(data) {
		return []message.Message{bad(0, "null", message.ErrMalformed, "not JSON")}, false, nil
	}
	if len(data) > 0 && data[0] == '[' {
		var elems []json.RawMessage
		if err := json.Unmarshal(data, &elems); err != nil {
			return []message.Message{bad(0, "null", message.ErrMalformed, err.Error())}, false, nil
		}
		if len(elems) == 0 {
			return []message.Message{bad(0, "null", message.ErrInvalidMessage, "an empty batch")}, false, nil
		}
		msgs := make([]message.Message, len(elems))
		for i, e := range elems {
			msgs[i] = decodeOne(e)
		}
		return msgs, true, nil
	}
	return []message.Message{decodeOne(data)}, false, nil
}

// bad is a message that could not be read.
func bad(kind message.Kind, id string, fault error, why string) message.Message {
	return message.Message{Kind: kind, ID: id, Bad: fmt.Errorf("%w: %s", fault, why)}
}

// decodeOne reads one request or response object.
func decodeOne(raw json.RawMessage) message.Message {
	var w wire
	if err := json.Unmarshal(raw, &w); err != nil {
		return bad(0, "null", message.ErrInvalidMessage, "not an object")
	}
	id := "null"
	idOK := w.ID == nil || validID(w.ID)
	if w.ID != nil && idOK {
		id = string(w.ID)
	}
	if string(w.JSONRPC) != `"2.0"` {
		return bad(0, id, message.ErrInvalidMessage, `"jsonrpc" is not "2.0"`)
	}
	if !idOK {
		return bad(0, "null", message.ErrInvalidMessage, "an id that is not a string, a number or null")
	}
	if w.Method != nil {
		var method string
		if err := json.Unmarshal(w.Method, &method); err != nil {
			return bad(0, id, message.ErrInvalidMessage, `"method" is not a string`)
		}
		kind := message.KindCall
		if w.ID == nil {
			kind, id = message.KindNotify, ""
		}
		if w.Params != nil && w.Params[0] != '[' && w.Params[0] != '{' {
			m := bad(kind, id, message.ErrInvalidMessage, `"params" is neither an array nor an object`)
			m.Method = method
			return m
		}
		return message.Message{Kind: kind, ID: id, Method: method, Payload: w.Params}
	}
	switch {
	case w.Result != nil && w.Error != nil:
		return bad(message.KindResult, id, message.ErrInvalidMessage, `a response with both "result" and "error"`)
	case w.Result != nil:
		if w.ID == nil {
			return bad(message.KindResult, id, message.ErrInvalidMessage, "a response without an id")
		}
		return message.Message{Kind: message.KindResult, ID: id, Payload: w.Result}
	case w.Error != nil:
		if w.ID == nil {
			return bad(message.KindError, id, message.ErrInvalidMessage, "a response without an id")
		}
		var we wireError
		if err := json.Unmarshal(w.Error, &we); err != nil || we.Message == nil || !isInteger(we.Code) {
			return bad(message.KindError, id, message.ErrInvalidMessage, "an error without an integer code and a message")
		}
		return message.Message{Kind: message.KindError, ID: id,
			Err: &message.Error{Code: string(we.Code), Message: *we.Message, Data: we.Data}}
	}
	return bad(0, id, message.ErrInvalidMessage, `neither "method", "result" nor "error"`)
}

// validID reports whether raw is an id a request may carry: a string, a
// number or null.
func validID(raw json.RawMessage) bool {
	switch c := raw[0]; {
	case c == '"', c == '-', c >= '0' && c <= '9':
		return true
	}
	return string(raw) == "null"
}

// isInteger reports whether raw is a JSON integer.
func isInteger(raw json.RawMessage) bool {
	_, err := strconv.Atoi(string(raw))
	return err == nil
}

// Encode writes one message, or a batch.
func (Codec) Encode(msgs []message.Message, batch bool) (protocol.MessageType, []byte, error) {
	b := make([]byte, 0, 64+estimate(msgs))
	if batch {
		b = append(b, '[')
	}
	for i, m := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendMessage(b, m); err != nil {
			return 0, nil, err
		}
	}
	if batch {
		b = append(b, ']')
	}
	return protocol.Text, b, nil
}

// estimate is the payloads' size, to size the buffer once.
func estimate(msgs []message.Message) int {
	n := 0
	for _, m := range msgs {
		n += len(m.Payload) + len(m.Method) + len(m.ID)
		if m.Err != nil {
			n += len(m.Err.Message) + len(m.Err.Data) + 32
		}
	}
	return n
}

// appendMessage writes one request or response object.
func appendMessage(b []byte, m message.Message) ([]byte, error) {
	b = append(b, `{"jsonrpc":"2.0"`...)
	id := m.ID
	if id == "" {
		id = "null"
	}
	switch m.Kind {
	case message.KindCall, message.KindNotify:
		if m.Kind == message.KindCall {
			b = append(append(b, `,"id":`...), id...)
		}
		b = jsontext.AppendString(append(b, `,"method":`...), m.Method)
		if len(m.Payload) > 0 {
			if c := m.Payload[0]; c != '[' && c != '{' {
				return nil, fmt.Errorf("jsonrpc: params of %s must be an array or an object", m.Method)
			}
			b = append(append(b, `,"params":`...), m.Payload...)
		}
	case message.KindResult:
		b = append(append(b, `,"id":`...), id...)
		b = append(b, `,"result":`...)
		if len(m.Payload) == 0 {
			b = append(b, "null"...)
		} else {
			b = append(b, m.Payload...)
		}
	case message.KindError:
		e := m.Err
		if e == nil {
			e = Error(InternalError, "Internal error", nil)
		}
		code := e.Code
		if !isInteger(json.RawMessage(code)) {
			code = strconv.Itoa(InternalError)
		}
		b = append(append(b, `,"id":`...), id...)
		b = append(append(b, `,"error":{"code":`...), code...)
		b = jsontext.AppendString(append(b, `,"message":`...), e.Message)
		if len(e.Data) > 0 {
			b = append(append(b, `,"data":`...), e.Data...)
		}
		b = append(b, '}')
	default:
		return nil, fmt.Errorf("jsonrpc: %w: message kind %v", message.ErrNotSupported, m.Kind)
	}
	return append(b, '}'), nil
}

// NewID returns n as a JSON number.
func (Codec) NewID(n uint64) string { return strconv.FormatUint(n, 10) }

// ErrorFor returns the error object that answers err.
func (Codec) ErrorFor(err error) *message.Error {
	var e *message.Error
	if errors.As(err, &e) {
		if _, ok := Code(e); ok {
			return e
		}
		return Error(InternalError, "Internal error", nil)
	}
	switch {
	case errors.Is(err, message.ErrMalformed):
		return Error(ParseError, "Parse error", nil)
	case errors.Is(err, message.ErrInvalidMessage), errors.Is(err, message.ErrUnknownKind):
		return Error(InvalidRequest, "Invalid Request: "+detail(err), nil)
	case errors.Is(err, message.ErrUnknownMethod):
		return Error(MethodNotFound, "Method not found", nil)
	case errors.Is(err, message.ErrInvalidParams):
		return Error(InvalidParams, "Invalid params: "+detail(err), nil)
	case errors.Is(err, message.ErrBusy):
		return Error(ServerBusy, "Server busy: too many calls in progress", nil)
	}
	return Error(InternalError, "Internal error", nil)
}

// detail is the part of a fault's text after the fault's own.
func detail(err error) string {
	s := err.Error()
	for _, f := range []error{message.ErrInvalidMessage, message.ErrUnknownKind, message.ErrInvalidParams} {
		if rest, ok := strings.CutPrefix(s, f.Error()+": "); ok {
			return rest
		}
	}
	return s
}

// Error returns the error object of code, with message and, if data is
// not nil, data written as JSON (dropped if it cannot be).
func Error(code int, msg string, data any) *message.Error {
	e := &message.Error{Code: strconv.Itoa(code), Message: msg}
	if data != nil {
		if raw, err := json.Marshal(data); err == nil {
			e.Data = raw
		}
	}
	return e
}

// Code returns e's code as an integer, and whether it is one.
func Code(e *message.Error) (int, bool) {
	n, err := strconv.Atoi(e.Code)
	return n, err == nil
}
