package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
)

// TestTransportTable checks graphql-transport-ws's state machine row by
// row against PROTOCOL.md, and that it has a row for every state and
// event.
func TestTransportTable(t *testing.T) {
	for _, tt := range []struct {
		state  connState
		event  transportEvent
		next   connState
		action transportAction
		code   protocol.CloseCode
		reason string
	}{
		// ConnectionInit: acknowledged with ConnectionAck.
		{awaitingInit, tInit, acknowledged, tAck, 0, ""},
		// Subscribe before the ack: 4401.
		{awaitingInit, tSubscribe, closing, tClose, 4401, "Unauthorized"},
		{awaitingInit, tSubscribeTaken, closing, tClose, 4401, "Unauthorized"},
		// Complete of an unknown ID: ignored.
		{awaitingInit, tComplete, awaitingInit, tNone, 0, ""},
		// No ConnectionInit in time: 4408.
		{awaitingInit, tInitTimeout, closing, tClose, 4408, "Connection initialisation timeout"},
		// A second ConnectionInit: 4429.
		{acknowledged, tInit, closing, tClose, 4429, "Too many initialisation requests"},
		{acknowledged, tSubscribe, acknowledged, tStart, 0, ""},
		// An ID already active: 4409.
		{acknowledged, tSubscribeTaken, closing, tClose, 4409, "Subscriber for <id> already exists"},
		{acknowledged, tComplete, acknowledged, tStop, 0, ""},
		{acknowledged, tInitTimeout, acknowledged, tNone, 0, ""},
		// Closing: nothing more is done.
		{closing, tInit, closing, tNone, 0, ""},
		{closing, tSubscribe, closing, tNone, 0, ""},
		{closing, tSubscribeTaken, closing, tNone, 0, ""},
		{closing, tComplete, closing, tNone, 0, ""},
		{closing, tInitTimeout, closing, tNone, 0, ""},
	} {
		s := &transportSession{state: tt.state}
		st := s.step(tt.event)
		want := transportStep{next: tt.next, action: tt.action, code: tt.code, reason: tt.reason}
		if st != want || s.state != tt.next {
			t.Errorf("%v, %v: got %+v (state %v), want %+v", tt.state, tt.event, st, s.state, want)
		}
	}
	for _, state := range []connState{awaitingInit, acknowledged, closing} {
		for ev := tInit; ev <= tInitTimeout; ev++ {
			if _, ok := transportTable[transportKey{state, ev}]; !ok {
				t.Errorf("no row for %v, %v", state, ev)
			}
		}
	}
}

func TestTransport(t *testing.T) {
	t.Parallel()
	p := wstest.Start(t, bin, "-addr", "127.0.0.1:0")
	const proto = "graphql-transport-ws"

	t.Run("query", func(t *testing.T) {
		t.Parallel()
		c := dial(t, p.Addr, proto)
		c.init()
		c.send(`{"id":"1","type":"subscribe","payload":{"query":"{ hello }"}}`)
		c.expect(frame{ID: "1", Type: "next", Payload: `{"data":{"hello":"Hello, world!"}}`}, frame{ID: "1", Type: "complete"})
		c.send(`{"id":"2","type":"subscribe","payload":{"query":"query A { a: hello } query B($n: String) { hello(name: $n) }","operationName":"B","variables":{"n":"Ann"}}}`)
		c.expect(frame{ID: "2", Type: "next", Payload: `{"data":{"hello":"Hello, Ann!"}}`}, frame{ID: "2", Type: "complete"})
	})

	t.Run("mutation", func(t *testing.T) {
		t.Parallel()
		c := dial(t, p.Addr, proto)
		c.init()
		c.send(`{"id":"m","type":"subscribe","payload":{"query":"mutation { post(text: \"hi\") { text } }"}}`)
		c.expect(frame{ID: "m", Type: "next", Payload: `{"data":{"post":{"text":"hi"}}}`}, frame{ID: "m", Type: "complete"})
	})

	t.Run("countdown", func(t *testing.T) {
		t.Parallel()
		c := dial(t, p.Addr, proto)
		c.init()
		c.send(`{"id":"c","type":"subscribe","payload":{"query":"subscription($n: Int!) { countdown(from: $n) }","variables":{"n":3}}}`)
		c.expect(countdown("c", "next", 3)...)
	})

	t.Run("complete from the client", func(t *testing.T) {
		t.Parallel()
		c := dial(t, p.Addr, proto)
		c.init()
		c.send(`{"id":"c","type":"subscribe","payload":{"query":"subscription { countdown(from: 1000) }"}}`)
		c.expect(frame{ID: "c", Type: "next", Payload: `{"data":{"countdown":1000}}`})
		c.send(`{"id":"c","type":"complete"}`)
		for _, f := range c.sync() { // results in flight before the complete
			if f.ID != "c" || f.Type != "next" {
				t.Errorf("before the pong: %+v", f)
			}
		}
		// The complete has been handled: nothing more comes for c.
		if got := c.sync(); len(got) != 0 {
			t.Errorf("after the complete was handled: %+v", got)
		}
		// The ID is free again.
		c.send(`{"id":"c","type":"subscribe","payload":{"query":"{ hello }"}}`)
		c.expect(frame{ID: "c", Type: "next", Payload: `{"data":{"hello":"Hello, world!"}}`}, frame{ID: "c", Type: "complete"})
	})

	t.Run("complete for an unknown ID", func(t *testing.T) {
		t.Parallel()
		c := dial(t, p.Addr, proto)
		c.init()
		c.send(`{"id":"nobody","type":"complete"}`)
		if got := c.sync(); len(got) != 0 {
			t.Errorf("answered with %+v", got)
		}
	})

	t.Run("error without complete", func(t *testing.T) {
		t.Parallel()
		c := dial(t, p.Addr, proto)
		c.init()
		for _, tt := range []struct{ payload, errors string }{
			{`{"query":"{ nope }"}`, `[{"message":"Cannot query field \"nope\" on type \"Query\".","locations":[{"line":1,"column":3}]}]`},
			{`{"query":"{ hello"}`, `[{"message":"syntax error: unexpected \"\", expecting Ident","locations":[{"line":1,"column":8}]}]`},
			{`{"query":"query A { hello } query B { hello }","operationName":"C"}`, `[{"message":"no operation with name \"C\""}]`},
			{`{"query":"query A { hello } query B { hello }"}`, `[{"message":"more than one operation in query document and no operation name given"}]`},
			{`{"query":"subscription($n: Int!) { countdown(from: $n) }"}`, `[{"message":"Variable \"n\" has invalid value null.\nExpected type \"Int!\", found null.","locations":[{"line":1,"column":14}]}]`},
		} {
			c.send(`{"id":"e","type":"subscribe","payload":` + tt.payload + `}`)
			c.expect(frame{ID: "e", Type: "error", Payload: tt.errors})
			// The error ends the operation: no complete follows, and
			// the ID is free again.
			if got := c.sync(); len(got) != 0 {
				t.Errorf("after the error: %+v", got)
			}
		}
	})

	t.Run("ping and pong", func(t *testing.T) {
		t.Parallel()
		c := dial(t, p.Addr, proto)
		c.send(`{"type":"ping"}`) // before connection_init too
		c.expect(frame{Type: "pong"})
		c.init()
		c.send(`{"type":"ping","payload":{"n":1}}`)
		c.expect(frame{Type: "pong", Payload: `{"n":1}`})
		c.send(`{"type":"ping","payload":null}`)
		c.expect(frame{Type: "pong"})
		c.send(`{"type":"pong","payload":{"unsolicited":true}}`) // a heartbeat: not answered
		if got := c.sync(); len(got) != 0 {
			t.Errorf("a pong was answered with %+v", got)
		}
	})

	t.Run("4401 subscribe before connection_ack", func(t *testing.T) {
		t.Parallel()
		c := dial(t, p.Addr, proto)
		c.send(`{"id":"1","type":"subscribe","payload":{"query":"{ hello }"}}`)
		if got := c.expectClose(4401, "Unauthorized"); len(got) != 0 {
			t.Errorf("before the close: %+v", got)
		}
	})

	t.Run("4409 subscriber exists", func(t *testing.T) {
		t.Parallel()
		c := dial(t, p.Addr, proto)
		c.init()
		c.send(`{"id":"dup","type":"subscribe","payload":{"query":"subscription { countdown(from: 1000) }"}}`)
		c.expect(frame{ID: "dup", Type: "next", Payload: `{"data":{"countdown":1000}}`})
		c.send(`{"id":"dup","type":"subscribe","payload":{"query":"{ hello }"}}`)
		for _, f := range c.expectClose(4409, "Subscriber for dup already exists") {
			if f.Type != "next" || !strings.Contains(f.Payload, "countdown") {
				t.Errorf("before the close: %+v", f)
			}
		}
	})

	t.Run("4429 second connection_init", func(t *testing.T) {
		t.Parallel()
		c := dial(t, p.Addr, proto)
		c.init()
		c.send(`{"type":"connection_init"}`)
		if got := c.expectClose(4429, "Too many initialisation requests"); len(got) != 0 {
			t.Errorf("before the close: %+v", got)
		}
	})

	for _, tt := range []struct {
		name, msg, reason string
		init              bool
	}{
		{"not JSON", `hello`, "invalid message: not a JSON object", false},
		{"an array", `[{"type":"ping"}]`, "invalid message: not a JSON object", false},
		{"null", `null`, "invalid message: not a JSON object", false},
		{"no type", `{"id":"1"}`, `invalid message: "type" must be a string`, false},
		{"type not a string", `{"type":1}`, `invalid message: "type" must be a string`, false},
		{"unknown type", `{"type":"start","id":"1","payload":{"query":"{ hello }"}}`, `unknown message type "start"`, true},
		{"a server's next", `{"type":"next","id":"1","payload":{}}`, `unexpected message of type "next" from a client`, true},
		{"a server's connection_ack", `{"type":"connection_ack"}`, `unexpected message of type "connection_ack" from a client`, false},
		{"connection_init payload not an object", `{"type":"connection_init","payload":"token"}`, `invalid connection_init message: "payload" must be an object or null`, false},
		{"ping payload an array", `{"type":"ping","payload":[]}`, `invalid ping message: "payload" must be an object or null`, false},
		{"subscribe without id", `{"type":"subscribe","payload":{"query":"{ hello }"}}`, `invalid subscribe message: "id" must be a non-empty string`, true},
		{"subscribe with an empty id", `{"id":"","type":"subscribe","payload":{"query":"{ hello }"}}`, `invalid subscribe message: "id" must be a non-empty string`, true},
		{"subscribe with a numeric id", `{"id":1,"type":"subscribe","payload":{"query":"{ hello }"}}`, `invalid subscribe message: "id" must be a non-empty string`, true},
		{"subscribe without payload", `{"id":"1","type":"subscribe"}`, `invalid subscribe message: "payload" must be an object`, true},
		{"subscribe without query", `{"id":"1","type":"subscribe","payload":{}}`, `invalid subscribe message: "payload.query" must be a string`, true},
		{"subscribe with variables not an object", `{"id":"1","type":"subscribe","payload":{"query":"{ hello }","variables":[1]}}`, `invalid subscribe message: "payload.variables" must be an object or null`, true},
		{"subscribe with operationName not a string", `{"id":"1","type":"subscribe","payload":{"query":"{ hello }","operationName":7}}`, `invalid subscribe message: "payload.operationName" must be a string or null`, true},
		{"complete without id", `{"type":"complete"}`, `invalid complete message: "id" must be a non-empty string`, true},
	} {
		t.Run("4400 "+tt.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, p.Addr, proto)
			if tt.init {
				c.init()
			}
			c.send(tt.msg)
			if got := c.expectClose(4400, tt.reason); len(got) != 0 {
				t.Errorf("before the close: %+v", got)
			}
		})
	}

	t.Run("a binary message is read as text", func(t *testing.T) {
		t.Parallel()
		c := dial(t, p.Addr, proto)
		if err := c.c.Send(c.ctx, protocol.Binary, []byte(`{"type":"ping"}`)); err != nil {
			t.Fatal(err)
		}
		c.expect(frame{Type: "pong"})
	})
}

// TestInitTimeout runs the program with a short -init-timeout: a
// connection without connection_init is closed with 4408, with either
// protocol; one that sent it in time is left open after the timeout.
func TestInitTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 500 * time.Millisecond
	p := wstest.Start(t, bin, "-addr", "127.0.0.1:0", "-init-timeout", timeout.String())
	for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
		t.Run(proto+" 4408", func(t *testing.T) {
			t.Parallel()
			start := time.Now() // before the server's timer starts
			c := dial(t, p.Addr, proto)
			if got := c.expectClose(4408, "Connection initialisation timeout"); len(got) != 0 {
				t.Errorf("before the close: %+v", got)
			}
			if d := time.Since(start); d < timeout {
				t.Errorf("closed after %v, before the timeout", d)
			}
		})
	}
	t.Run("graphql-transport-ws initialised in time", func(t *testing.T) {
		t.Parallel()
		c := dial(t, p.Addr, "graphql-transport-ws")
		c.init()
		// Twelve countdown steps outlast the timeout.
		c.send(`{"id":"c","type":"subscribe","payload":{"query":"subscription { countdown(from: 12) }"}}`)
		c.expect(countdown("c", "next", 12)...)
		c.sync()
	})
	t.Run("graphql-ws initialised in time", func(t *testing.T) {
		t.Parallel()
		c := dial(t, p.Addr, "graphql-ws")
		c.initLegacy()
		c.send(`{"id":"c","type":"start","payload":{"query":"subscription { countdown(from: 12) }"}}`)
		var got []frame
		for len(got) < 14 {
			if f := c.recv(); f.Type != "ka" {
				got = append(got, f)
			}
		}
		if diff := cmp.Diff(countdown("c", "data", 12), got); diff != "" {
			t.Errorf("countdown (-want +got):\n%s", diff)
		}
	})
}
