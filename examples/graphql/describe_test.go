package main

import (
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/wsmap/wsmap/asyncapi"
	"github.com/wsmap/wsmap/internal/asyncapitest"
)

// TestAsyncAPI checks the document -asyncapi prints against the official
// schema, and its schemas of a few messages against real ones.
func TestAsyncAPI(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(bin, "-asyncapi").Output()
	if err != nil {
		t.Fatal(err)
	}
	asyncapitest.Validate(t, out)
	var doc asyncapi.Document
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	ch := doc.Channels["graphql"]
	if ch == nil || ch.Address == nil || *ch.Address != "/graphql" || !ch.Extension.HTTP || len(doc.Operations) != 20 {
		t.Fatalf("channel %+v, %d operations", ch, len(doc.Operations))
	}
	for _, tt := range []struct {
		message string
		valid   []string
		refuse  []string
	}{
		{"graphql-transport-ws_subscribe",
			[]string{`{"type": "subscribe", "id": "1", "payload": {"query": "{ hello }", "variables": null}}`},
			[]string{`{"type": "subscribe", "id": "1", "payload": {}}`, `{"type": "subscribe", "payload": {"query": "{ hello }"}}`, `{"type": "start", "id": "1", "payload": {"query": "{ hello }"}}`}},
		{"graphql-transport-ws_ping",
			[]string{`{"type": "ping"}`, `{"type": "ping", "payload": {"a": 1}}`},
			[]string{`{"type": "ping", "payload": 1}`}},
		{"graphql-ws_data",
			[]string{`{"type": "data", "id": "a", "payload": {"data": {"hello": "Hello, world!"}}}`},
			[]string{`{"type": "data", "id": "a"}`}},
	} {
		m := ch.Messages[tt.message]
		if m == nil {
			t.Errorf("no message %s", tt.message)
			continue
		}
		asyncapitest.CheckPayloads(t, tt.message, m.Payload, tt.valid, tt.refuse)
	}
}
