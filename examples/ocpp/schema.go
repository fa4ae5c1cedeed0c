package main

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/message/ocppj"
)

// The OCA's JSON schemas of each version, one file per version holding
// an array of schemas whose $id is urn:<Action>.req (the CALL's payload)
// or urn:<Action>.conf (its CALLRESULT's); schemas/README.md says where
// they come from.
//
//go:embed schemas/ocpp1_6.json schemas/ocpp2_0_1.json
var schemaFiles embed.FS

// schemaFile names the file of each version's schemas.
var schemaFile = map[ocppj.Version]string{
	ocppj.V16:  "schemas/ocpp1_6.json",
	ocppj.V201: "schemas/ocpp2_0_1.json",
}

// schemaSet holds the schemas of one version. Each is compiled the
// first time it is used: compiling them all would take a third of a
// second at every start, and TestSchemasCompile checks that each does.
type schemaSet struct {
	version ocppj.Version
	ids     map[string]bool            // the schemas' $ids
	raw     map[string]json.RawMessage // the schemas as the file has them, by $id

	mu       sync.Mutex
	c        *jsonschema.Compiler
	compiled map[string]*jsonschema.Schema // by $id
}

// loadSchemas reads the schemas of v.
func loadSchemas(v ocppj.Version) (*schemaSet, error) {
	data, err := schemaFiles.ReadFile(schemaFile[v])
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", schemaFile[v], err)
	}
	list, ok := doc.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: not an array of schemas", schemaFile[v])
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", schemaFile[v], err)
	}
	set := &schemaSet{version: v, ids: map[string]bool{}, raw: map[string]json.RawMessage{}, c: jsonschema.NewCompiler(), compiled: map[string]*jsonschema.Schema{}}
	for i, s := range list {
		obj, _ := s.(map[string]any)
		id, _ := obj["$id"].(string)
		if !strings.HasPrefix(id, "urn:") || (!strings.HasSuffix(id, ".req") && !strings.HasSuffix(id, ".conf")) {
			return nil, fmt.Errorf("%s: schema %d: $id %q is not urn:<Action>.req or .conf", schemaFile[v], i, id)
		}
		if err := set.c.AddResource(id, s); err != nil {
			return nil, fmt.Errorf("%s: %w", schemaFile[v], err)
		}
		set.ids[id] = true
		set.raw[id] = raw[i]
	}
	for id := range set.ids {
		if conf, ok := strings.CutSuffix(id, ".req"); ok && !set.ids[conf+".conf"] {
			return nil, fmt.Errorf("%s: %s has no response schema", schemaFile[v], id)
		}
	}
	return set, nil
}

// defines reports whether action is one of the version's actions.
func (s *schemaSet) defines(action string) bool { return s.ids["urn:"+action+".req"] }

// schema returns the compiled schema of id, one of s.ids.
func (s *schemaSet) schema(id string) *jsonschema.Schema {
	s.mu.Lock()
	defer s.mu.Unlock()
	sch := s.compiled[id]
	if sch == nil {
		var err error
		if sch, err = s.c.Compile(id); err != nil {
			panic(fmt.Sprintf("the embedded schema %s of %s does not compile: %v", id, s.version, err))
		}
		s.compiled[id] = sch
	}
	return sch
}

// checkCall validates the payload of a CALL of action, which the version
// must define. It returns nil or the CALLERROR that answers it.
func (s *schemaSet) checkCall(action string, payload json.RawMessage) *message.Error {
	return s.check(s.schema("urn:"+action+".req"), payload)
}

// checkResult validates the payload of a CALLRESULT to action, as
// checkCall does.
func (s *schemaSet) checkResult(action string, payload json.RawMessage) *message.Error {
	return s.check(s.schema("urn:"+action+".conf"), payload)
}

// check validates payload against sch.
func (s *schemaSet) check(sch *jsonschema.Schema, payload json.RawMessage) *message.Error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return ocppj.Error(s.version.FormatViolation(), "the payload is not JSON", nil)
	}
	err = sch.Validate(v)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return ocppj.Error(s.version.FormatViolation(), err.Error(), nil)
	}
	return s.violation(verr)
}

// class is a kind of schema violation, each answered with its code.
type class int

// The classes, from the most fundamental to the least: when a payload
// breaks several constraints, the CALLERROR names the first class it
// breaks.
const (
	classFormat     class = iota // not the PDU's structure
	classOccurrence              // a field missing, or too few or too many of an array's
	classType                    // a field of the wrong JSON type
	classProperty                // a value outside its enum, length, range, pattern or format
)

// classify sorts a failed schema keyword into its class.
//
// OCPP-J defines the codes so: FormationViolation (1.6) or
// FormatViolation (2.0.1) for a payload that does not conform to the
// action's PDU structure; OccurenceConstraintViolation for one that is
// "syntactically correct but at least one of the fields violates
// occurence constraints"; TypeConstraintViolation for "data type
// constraints (e.g. "somestring": 12)"; PropertyConstraintViolation for
// "at least one field contains an invalid value". A field the schema
// does not have (additionalProperties: false) is a structure the PDU
// does not have, so a format violation; so is a payload that is not an
// object at all, and any keyword not listed here.
func classify(e *jsonschema.ValidationError) class {
	switch e.ErrorKind.(type) {
	case *kind.Required, *kind.DependentRequired, *kind.Dependency,
		*kind.MinItems, *kind.MaxItems, *kind.MinProperties, *kind.MaxProperties,
		*kind.Contains, *kind.MinContains, *kind.MaxContains:
		return classOccurrence
	case *kind.Type:
		if len(e.InstanceLocation) == 0 {
			return classFormat // the payload itself is not an object
		}
		return classType
	case *kind.Enum, *kind.Const, *kind.Pattern, *kind.Format,
		*kind.MinLength, *kind.MaxLength,
		*kind.Minimum, *kind.Maximum, *kind.ExclusiveMinimum, *kind.ExclusiveMaximum, *kind.MultipleOf,
		*kind.UniqueItems, *kind.ContentEncoding, *kind.ContentMediaType:
		return classProperty
	}
	return classFormat
}

// code returns the CALLERROR code of a class, spelled as s's version
// spells it.
func (s *schemaSet) code(c class) string {
	switch c {
	case classOccurrence:
		return ocppj.OccurenceConstraintViolation
	case classType:
		return ocppj.TypeConstraintViolation
	case classProperty:
		return ocppj.PropertyConstraintViolation
	}
	return s.version.FormatViolation()
}

// violation is the CALLERROR for a failed validation: the code of the
// most fundamental violation (see classify), described as the validator
// words it, with where it is in the payload and how many violations
// there are in the details.
func (s *schemaSet) violation(verr *jsonschema.ValidationError) *message.Error {
	leaves := leafErrors(verr, nil)
	if len(leaves) == 0 {
		leaves = []*jsonschema.ValidationError{verr}
	}
	first := leaves[0]
	for _, l := range leaves[1:] {
		if classify(l) < classify(first) {
			first = l
		}
	}
	details := map[string]any{
		"location":   pointer(first.InstanceLocation),
		"keyword":    strings.Join(first.ErrorKind.KeywordPath(), "/"),
		"violations": len(leaves),
	}
	return ocppj.Error(s.code(classify(first)), first.Error(), details)
}

// leafErrors appends the violations e is made of: the errors of its tree
// that have no causes.
func leafErrors(e *jsonschema.ValidationError, leaves []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		if _, group := e.ErrorKind.(*kind.Schema); !group {
			leaves = append(leaves, e)
		}
		return leaves
	}
	for _, c := range e.Causes {
		leaves = leafErrors(c, leaves)
	}
	return leaves
}

// pointer writes a location in the payload as a JSON pointer (RFC 6901).
func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}
