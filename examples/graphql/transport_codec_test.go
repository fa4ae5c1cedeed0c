package main

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

func TestTransportCodec(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want message.Message
	}{
		{`{"type":"connection_init"}`, message.Message{Kind: message.KindNotify, Method: "connection_init"}},
		{`{"type":"connection_init","payload":{"token":"t"}}`, message.Message{Kind: message.KindNotify, Method: "connection_init", Payload: json.RawMessage(`{"token":"t"}`)}},
		{`{"type":"ping","payload":null}`, message.Message{Kind: message.KindCall, Method: "ping"}},
		{`{"type":"pong"}`, message.Message{Kind: message.KindNotify, Method: "pong"}},
		{`{"id":"1","type":"subscribe","payload":{"query":"{ hello }","variables":null}}`, message.Message{Kind: message.KindNotify, Method: "subscribe", ID: "1", Payload: json.RawMessage(`{"query":"{ hello }","variables":null}`)}},
		{`{"id":"1","type":"complete"}`, message.Message{Kind: message.KindNotify, Method: "complete", ID: "1"}},
	} {
		msgs, batch, err := transportCodec{}.Decode(protocol.Text, []byte(tt.in))
		if err != nil || batch || len(msgs) != 1 {
			t.Errorf("Decode(%s) = %v, %v, %v", tt.in, msgs, batch, err)
			continue
		}
		if diff := cmp.Diff(tt.want, msgs[0]); diff != "" {
			t.Errorf("Decode(%s) (-want +got):\n%s", tt.in, diff)
		}
	}
	_, _, err := transportCodec{}.Decode(protocol.Text, []byte(`{"type":"next","id":"1","payload":{}}`))
	if code, reason := service.CloseStatus(err); code != 4400 || reason != `unexpected message of type "next" from a client` {
		t.Errorf("a next from a client: %v", err)
	}

	for _, tt := range []struct {
		m    message.Message
		want string
	}{
		{message.Message{Kind: message.KindNotify, Method: "connection_ack"}, `{"type":"connection_ack"}`},
		{message.Message{Kind: message.KindNotify, Method: "next", ID: "7", Payload: json.RawMessage(`{"data":{}}`)}, `{"id":"7","type":"next","payload":{"data":{}}}`},
		{message.Message{Kind: message.KindResult, ID: "", Payload: json.RawMessage(`{"t":1}`)}, `{"type":"pong","payload":{"t":1}}`},
	} {
		typ, b, err := transportCodec{}.Encode([]message.Message{tt.m}, false)
		if err != nil || typ != protocol.Text || string(b) != tt.want {
			t.Errorf("Encode(%+v) = %v %s %v, want %s", tt.m, typ, b, err, tt.want)
		}
	}
	if _, _, err := (transportCodec{}).Encode([]message.Message{{Kind: message.KindError, Err: &message.Error{}}}, false); !errors.Is(err, message.ErrNotSupported) {
		t.Errorf("Encode of an error: %v, want ErrNotSupported", err)
	}
	if _, _, err := (transportCodec{}).Encode(make([]message.Message, 2), true); !errors.Is(err, message.ErrNotSupported) {
		t.Errorf("Encode of a batch: %v, want ErrNotSupported", err)
	}
}

// FuzzTransportDecode reads any frame: Decode never panics, and either
// closes with 4400 and a reason or returns one message of a type a client
// sends, with an ID where the type has one.
func FuzzTransportDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"connection_init","payload":{}}`,
		`{"id":"1","type":"subscribe","payload":{"query":"{ hello }","variables":{"a":1},"operationName":null}}`,
		`{"id":"1","type":"complete"}`, `{"type":"ping"}`, `[]`, `null`, `{"type":1}`,
	} {
		f.Add([]byte(s))
	}
	client := map[string]bool{"connection_init": true, "ping": true, "pong": true, "subscribe": true, "complete": true}
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, _, err := transportCodec{}.Decode(protocol.Text, data)
		if code, reason := service.CloseStatus(err); err != nil && (code != 4400 || reason == "") {
			t.Errorf("Decode(%q): %v", data, err)
		}
		if err == nil && (len(msgs) != 1 || !client[msgs[0].Method] || (msgs[0].Method == "subscribe" || msgs[0].Method == "complete") && msgs[0].ID == "") {
			t.Errorf("Decode(%q) = %+v", data, msgs)
		}
	})
}
