package ocppj

import (
	"encoding/json"
	"strconv"
)

// CallSchema returns a JSON Schema (draft-07) of a CALL of action whose
// payload follows payload, itself a JSON Schema; an action "" stands for
// any action, a nil payload for any object. It describes the message as
// it travels, for API documents such as AsyncAPI's.
func CallSchema(action string, payload json.RawMessage) json.RawMessage {
	act := `{"type":"string","description":"the action"}`
	if action != "" {
		act = `{"const":` + strconv.Quote(action) + `,"description":"the action"}`
	}
	return tuple(TypeCall, act, object(payload))
}

// CallResultSchema returns a JSON Schema of a CALLRESULT whose payload
// follows payload (nil for any object), as CallSchema does.
func CallResultSchema(payload json.RawMessage) json.RawMessage {
	return tuple(TypeCallResult, object(payload))
}

// ErrorSchema returns a JSON Schema of v's CALLERROR, its error code one
// of v.Codes().
func (v Version) ErrorSchema() json.RawMessage {
	codes, _ := json.Marshal(v.Codes())
	return tuple(TypeCallError,
		`{"type":"string","enum":`+string(codes)+`,"description":"the error code"}`,
		`{"type":"string","maxLength":255,"description":"the error description"}`,
		`{"type":"object","description":"the error details"}`)
}

// object returns payload, or a schema of any object if it is nil.
func object(payload json.RawMessage) string {
	if payload == nil {
		return `{"type":"object"}`
	}
	return string(payload)
}

// tuple returns the schema of an OCPP-J message of type typ: an array
// of typ, the message ID and items.
func tuple(typ int, items ...string) json.RawMessage {
	b := []byte(`{"type":"array","items":[{"const":` + strconv.Itoa(typ) + `},{"type":"string","maxLength":36,"description":"the message ID"}`)
	for _, it := range items {
		b = append(b, ',')
		b = append(b, it...)
	}
	n := strconv.Itoa(2 + len(items))
	return append(b, `],"minItems":`+n+`,"maxItems":`+n+`}`...)
}
