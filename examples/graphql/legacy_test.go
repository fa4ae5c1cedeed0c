package main

import (
	"strings"
	"testing"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
)

// TestLegacyTable checks the legacy protocol's state machine row by row
// against subscriptions-transport-ws's PROTOCOL.md, and that it has a row
// for every state and event.
func TestLegacyTable(t *testing.T) {
	for _, tt := range []struct {
		state  connState
		event  legacyEvent
		next   connState
		action legacyAction
		code   protocol.CloseCode
		reason string
	}{
		// GQL_CONNECTION_INIT: GQL_CONNECTION_ACK and
		// GQL_CONNECTION_KEEP_ALIVE.
		{awaitingInit, lInit, acknowledged, lAck, 0, ""},
		{awaitingInit, lStart, awaitingInit, lNotReady, 0, ""},
		{awaitingInit, lStop, awaitingInit, lNone, 0, ""},
		// GQL_CONNECTION_TERMINATE: the connection ends.
		{awaitingInit, lTerminate, closing, lCloseConn, protocol.CloseNormal, ""},
		{awaitingInit, lInitTimeout, closing, lCloseConn, 4408, "Connection initialisation timeout"},
		{acknowledged, lInit, acknowledged, lAckAgain, 0, ""},
		// GQL_START: the operation runs; GQL_STOP stops it.
		{acknowledged, lStart, acknowledged, lRun, 0, ""},
		{acknowledged, lStop, acknowledged, lStopOp, 0, ""},
		{acknowledged, lTerminate, closing, lCloseConn, protocol.CloseNormal, ""},
		{acknowledged, lInitTimeout, acknowledged, lNone, 0, ""},
		{closing, lInit, closing, lNone, 0, ""},
		{closing, lStart, closing, lNone, 0, ""},
		{closing, lStop, closing, lNone, 0, ""},
		{closing, lTerminate, closing, lNone, 0, ""},
		{closing, lInitTimeout, closing, lNone, 0, ""},
	} {
		s := &legacySession{state: tt.state}
		st := s.step(tt.event)
		want := legacyStep{next: tt.next, action: tt.action, code: tt.code, reason: tt.reason}
		if st != want || s.state != tt.next {
			t.Errorf("%v, %v: got %+v (state %v), want %+v", tt.state, tt.event, st, s.state, want)
		}
	}
	for _, state := range []connState{awaitingInit, acknowledged, closing} {
		for ev := lInit; ev <= lInitTimeout; ev++ {
			if _, ok := legacyTable[legacyKey{state, ev}]; !ok {
				t.Errorf("no row for %v, %v", state, ev)
			}
		}
	}
}

func TestLegacy(t *testing.T) {
	t.Parallel()
	p := wstest.Start(t, bin, "-addr", "127.0.0.1:0")
	const proto = "graphql-ws"

	t.Run("query", func(t *testing.T) {
		t.Parallel()
		c := dial(t, p.Addr, proto)
		c.initLegacy()
		c.send(`{"id":"1","type":"start","payload":{"query":"query($n: String) { hello(name: $n) }","variables":{"n":"Bo"}}}`)
		c.expect(frame{ID: "1", Type: "data", Payload: `{"data":{"hello":"Hello, Bo!"}}`}, frame{ID: "1", Type: "complete"})
	})

	t.Run("mutation", func(t *testing.T) {
		t.Parallel()
		c := dial(t, p.Addr, proto)
		c.initLegacy()
		c.send(`{"id":"m","type":"start","payload":{"query":"mutation { post(text: \"yo\") { text } }","operationName":null}}`)
		c.expect(frame{ID: "m", Type: "data", Payload: `{"data":{"post":{"text":"yo"}}}`}, frame{ID: "m", Type: "complete"})
	})

	t.Run("countdown", func(t *testing.T) {
		t.Parallel()
		c := dial(t, p.Addr, proto)
		c.initLegacy()
		c.send(`{"id":"c","type":"start","payload":{"query":"subscription { countdown(from: 2) }"}}`)
		c.expect(countdown("c", "data", 2)...)
	})

	t.Run("stop", func(t *testing.T) {
		t.Parallel()
		c := dial(t, p.Addr, proto)
		c.initLegacy()
		c.send(`{"id":"c","type":"start","payload":{"query":"subscription { countdown(from: 1000) }"}}`)
		c.expect(frame{ID: "c", Type: "data", Payload: `{"data":{"countdown":1000}}`})
		c.send(`{"id":"c","type":"stop"}`)
		// Results in flight, then complete, and nothing more for c.
		for f := c.recv(); f.Type != "complete"; f = c.recv() {
			if f.ID != "c" || f.Type != "data" {
				t.Fatalf("before complete: %+v", f)
			}
		}
		c.send(`{"id":"q","type":"start","payload":{"query":"{ hello }"}}`)
		c.expect(frame{ID: "q", Type: "data", Payload: `{"data":{"hello":"Hello, world!"}}`}, frame{ID: "q", Type: "complete"})
		c.send(`{"id":"unknown","type":"stop"}`) // ignored
		c.send(`{"id":"q","type":"start","payload":{"query":"{ hello }"}}`)
		c.expect(frame{ID: "q", Type: "data", Payload: `{"data":{"hello":"Hello, world!"}}`}, frame{ID: "q", Type: "complete"})
	})

	t.Run("start replaces an active ID", func(t *testing.T) {
		t.Parallel()
		c := dial(t, p.Addr, proto)
		c.initLegacy()
		c.send(`{"id":"a","type":"start","payload":{"query":"subscription { countdown(from: 1000) }"}}`)
		c.expect(frame{ID: "a", Type: "data", Payload: `{"data":{"countdown":1000}}`})
		c.send(`{"id":"a","type":"start","payload":{"query":"{ hello }"}}`)
		for f := c.recv(); f.Type != "complete"; f = c.recv() {
			if f.Payload == `{"data":{"hello":"Hello, world!"}}` {
				c.expect(frame{ID: "a", Type: "complete"})
				return
			}
			if !strings.Contains(f.Payload, "countdown") {
				t.Fatalf("before the query's result: %+v", f)
			}
		}
		t.Fatal("complete before the query's result: the replaced subscription was completed")
	})

	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		c := dial(t, p.Addr, proto)
		c.send(`{"id":"early","type":"start","payload":{"query":"{ hello }"}}`)
		c.expect(frame{ID: "early", Type: "error", Payload: `{"message":"start before connection_init"}`})
		c.send(`not json`)
		c.expect(frame{Type: "connection_error", Payload: `{"message":"message is not a JSON object"}`})
		c.initLegacy() // the connection stays open
		for _, tt := range []struct{ msg, want string }{
			{`{"id":"v","type":"start","payload":{"query":"{ nope }"}}`, `{"message":"Cannot query field \"nope\" on type \"Query\".","locations":[{"line":1,"column":3}]}`},
			{`{"id":"v","type":"subscribe","payload":{"query":"{ hello }"}}`, `{"message":"Invalid message type!"}`},
			{`{"id":"v","type":"data","payload":{}}`, `{"message":"Invalid message type!"}`},
			{`{"id":"v","type":"start"}`, `{"message":"invalid start message: \"payload\" must be an object"}`},
			{`{"id":"v","type":"start","payload":{"query":1}}`, `{"message":"invalid start message: \"payload.query\" must be a string"}`},
		} {
			c.send(tt.msg)
			c.expect(frame{ID: "v", Type: "error", Payload: tt.want})
		}
		c.send(`{"type":"start","payload":{"query":"{ hello }"}}`)
		c.expect(frame{Type: "error", Payload: `{"message":"invalid start message: \"id\" must be a non-empty string"}`})
		// No complete followed an error: the next message is the
		// query's.
		c.send(`{"id":"v","type":"start","payload":{"query":"{ hello }"}}`)
		c.expect(frame{ID: "v", Type: "data", Payload: `{"data":{"hello":"Hello, world!"}}`}, frame{ID: "v", Type: "complete"})
	})

	t.Run("connection_init again", func(t *testing.T) {
		t.Parallel()
		c := dial(t, p.Addr, proto)
		c.initLegacy()
		c.send(`{"type":"connection_init"}`)
		c.expect(frame{Type: "connection_ack"})
	})

	t.Run("connection_terminate", func(t *testing.T) {
		t.Parallel()
		c := dial(t, p.Addr, proto)
		c.initLegacy()
		c.send(`{"id":"c","type":"start","payload":{"query":"subscription { countdown(from: 1000) }"}}`)
		c.expect(frame{ID: "c", Type: "data", Payload: `{"data":{"countdown":1000}}`})
		c.send(`{"type":"connection_terminate"}`)
		for _, f := range c.expectClose(protocol.CloseNormal, "") {
			if f.ID != "c" || f.Type != "data" {
				t.Errorf("before the close: %+v", f)
			}
		}
	})
}

// TestKeepAlive runs the program with a short -keepalive: a legacy
// connection receives ka after connection_ack and then again and again.
func TestKeepAlive(t *testing.T) {
	t.Parallel()
	p := wstest.Start(t, bin, "-addr", "127.0.0.1:0", "-keepalive", "20ms")
	c := dial(t, p.Addr, "graphql-ws")
	c.initLegacy()
	c.expect(frame{Type: "ka"}, frame{Type: "ka"}, frame{Type: "ka"})
}
