package ocppj

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func TestSchemas(t *testing.T) {
	t.Parallel()
	boot := json.RawMessage(`{"type":"object","required":["reason"],"properties":{"reason":{"type":"string"}}}`)
	for _, tt := range []struct {
		name   string
		schema json.RawMessage
		valid  []string
		refuse []string
	}{
		{"call of an action", CallSchema("BootNotification", boot),
			[]string{`[2, "1", "BootNotification", {"reason": "PowerUp"}]`},
			[]string{`[2, "1", "Heartbeat", {"reason": "PowerUp"}]`, `[2, "1", "BootNotification", {}]`, `[3, "1", "BootNotification", {"reason": "x"}]`,
				`[2, "1", "BootNotification"]`, `[2, "1", "BootNotification", {"reason": "x"}, 5]`, `[2, 1, "BootNotification", {"reason": "x"}]`}},
		{"call of any action", CallSchema("", nil),
			[]string{`[2, "1", "Heartbeat", {}]`, `[2, "abc", "X", {"a": 1}]`},
			[]string{`[2, "1", 7, {}]`, `[2, "1", "X", []]`, `{"a": 1}`}},
		{"result", CallResultSchema(boot),
			[]string{`[3, "1", {"reason": "x"}]`},
			[]string{`[3, "1", {}]`, `[4, "1", {"reason": "x"}]`, `[3, "1"]`}},
		{"error 1.6", V16.ErrorSchema(),
			[]string{`[4, "1", "FormationViolation", "", {}]`},
			[]string{`[4, "1", "FormatViolation", "", {}]`, `[4, "1", "GenericError", ""]`}},
		{"error 2.0.1", V201.ErrorSchema(),
			[]string{`[4, "1", "FormatViolation", "bad", {"a": 1}]`},
			[]string{`[4, "1", "FormationViolation", "", {}]`}},
	} {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(tt.schema))
		if err != nil {
			t.Fatalf("%s: %v: %s", tt.name, err, tt.schema)
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft7)
		if err := c.AddResource("schema.json", doc); err != nil {
			t.Fatal(err)
		}
		sch, err := c.Compile("schema.json")
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for _, m := range append(tt.valid, tt.refuse...) {
			v, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(m)))
			if err != nil {
				t.Fatal(err)
			}
			wantValid := slices.Contains(tt.valid, m)
			if err := sch.Validate(v); (err == nil) != wantValid {
				t.Errorf("%s: %s: valid %v, want %v (%v)", tt.name, m, err == nil, wantValid, err)
			}
		}
	}
}
