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
