// Package asyncapitest validates AsyncAPI documents against the official
// JSON Schema of AsyncAPI 3.0.0, for the tests of package asyncapi and
// of the examples.
package asyncapitest

import (
	"bytes"
	_ "embed"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaJSON is the official schema; testdata/README.md says where it
// comes from.
//
//go:embed testdata/asyncapi-3.0.0.json
var schemaJSON []byte

// schemaID is the schema's $id.
const schemaID = "http://asyncapi.com/definitions/3.0.0/asyncapi.json"

var compiled = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaID, doc); err != nil {
		return nil, err
	}
	return c.Compile(schemaID)
})

// Validate fails tb if document is not a valid AsyncAPI 3.0.0 document.
func Validate(tb testing.TB, document []byte) {
	tb.Helper()
	if err := Check(document); err != nil {
		tb.Fatalf("not a valid AsyncAPI 3.0.0 document: %v\n%s", err, document)
	}
}

// Check returns why document is not a valid AsyncAPI 3.0.0 document, or
// nil.
func Check(document []byte) error {
	sch, err := compiled()
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(document))
	if err != nil {
		return err
	}
	return sch.Validate(v)
}

// CheckPayloads compiles payload, a message's JSON Schema (draft 7 unless
// it says otherwise), and fails tb unless it accepts each of valid and
// refuses each of invalid, JSON texts of messages.
func CheckPayloads(tb testing.TB, name string, payload []byte, valid, invalid []string) {
	tb.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	s, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		tb.Fatalf("%s: the payload's schema: %v", name, err)
	}
	if err := c.AddResource("payload.json", s); err != nil {
		tb.Fatal(err)
	}
	sch, err := c.Compile("payload.json")
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	for _, msgs := range []struct {
		texts []string
		ok    bool
	}{{valid, true}, {invalid, false}} {
		for _, msg := range msgs.texts {
			v, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(msg)))
			if err != nil {
				tb.Fatalf("%s: %s: %v", name, msg, err)
			}
			if err := sch.Validate(v); (err == nil) != msgs.ok {
				tb.Errorf("%s: %s: accepted %t, want %t (%v)", name, msg, err == nil, msgs.ok, err)
			}
		}
	}
}
