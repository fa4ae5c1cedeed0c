package main

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/protocol"
)

func TestLegacyCodec(t *testing.T) {
	for _, tt := range []struct {
		in       string
		want     message.Message
		bad      error
		answered string // the peer's answer to a bad message
	}{
		{in: `{"type":"connection_init","payload":{"a":1}}`, want: message.Message{Kind: message.KindNotify, Method: "connection_init", Payload: json.RawMessage(`{"a":1}`)}},
		{in: `{"type":"connection_terminate"}`, want: message.Message{Kind: message.KindNotify, Method: "connection_terminate"}},
		{in: `{"id":"1","type":"start","payload":{"query":"{ hello }"}}`, want: message.Message{Kind: message.KindNotify, Method: "start", ID: "1", Payload: json.RawMessage(`{"query":"{ hello }"}`)}},
		{in: `{"id":"1","type":"stop"}`, want: message.Message{Kind: message.KindNotify, Method: "stop", ID: "1"}},
		{in: `{`, bad: message.ErrMalformed, answered: `{"type":"connection_error","payload":{"message":"message is not a JSON object"}}`},
		{in: `{"id":"2","type":"ka"}`, want: message.Message{ID: "2"}, bad: message.ErrUnknownKind, answered: `{"id":"2","type":"error","payload":{"message":"Invalid message type!"}}`},
		{in: `{"id":"3","type":"start","payload":"q"}`, want: message.Message{ID: "3"}, bad: message.ErrInvalidMessage, answered: `{"id":"3","type":"error","payload":{"message":"invalid start message: \"payload\" must be an object"}}`},
	} {
		msgs, batch, err := legacyCodec{}.Decode(protocol.Text, []byte(tt.in))
		if err != nil || batch || len(msgs) != 1 {
			t.Errorf("Decode(%s) = %v, %v, %v", tt.in, msgs, batch, err)
			continue
		}
		m := msgs[0]
		if !errors.Is(m.Bad, tt.bad) || (m.Bad == nil) != (tt.bad == nil) {
			t.Errorf("Decode(%s): Bad %v, want %v", tt.in, m.Bad, tt.bad)
		}
		if tt.bad != nil {
			// As the peer answers it.
			_, b, err := legacyCodec{}.Encode([]message.Message{{Kind: message.KindError, ID: m.ID, Err: legacyCodec{}.ErrorFor(m.Bad)}}, false)
			if err != nil || string(b) != tt.answered {
				t.Errorf("Decode(%s): answered %s %v, want %s", tt.in, b, err, tt.answered)
			}
			m.Bad = nil
		}
		if diff := cmp.Diff(tt.want, m); diff != "" {
			t.Errorf("Decode(%s) (-want +got):\n%s", tt.in, diff)
		}
	}
	if e := (legacyCodec{}).ErrorFor(message.ErrBusy); e.Code != "error" || e.Message != "internal error" {
		t.Errorf("ErrorFor(ErrBusy) = %+v", e)
	}
}

// FuzzLegacyDecode reads any frame: Decode never panics and returns one
// message, of a type a client sends or Bad, which the peer answers.
func FuzzLegacyDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"connection_init","payload":{}}`,
		`{"id":"1","type":"start","payload":{"query":"{ hello }"}}`,
		`{"id":"1","type":"stop"}`, `{"type":"connection_terminate"}`, `[]`, `null`, `{"type":1}`,
	} {
		f.Add([]byte(s))
	}
	client := map[string]bool{"connection_init": true, "start": true, "stop": true, "connection_terminate": true}
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, _, err := legacyCodec{}.Decode(protocol.Text, data)
		if err != nil || len(msgs) != 1 || msgs[0].Bad == nil && !client[msgs[0].Method] {
			t.Errorf("Decode(%q) = %+v, %v", data, msgs, err)
		}
	})
}
