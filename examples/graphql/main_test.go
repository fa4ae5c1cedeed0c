package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

var bin string

func TestMain(m *testing.M) { wstest.Main(m, &bin) }

// frame is a message as the tests read it: the payload as compact JSON.
type frame struct {
	ID      string
	Type    string
	Payload string
}

// client is a raw WebSocket client of the program: it sends and reads
// the protocols' messages as JSON text.
type client struct {
	t   *testing.T
	ctx context.Context
	c   *service.Conn
}

// dial connects to /graphql offering proto.
func dial(t *testing.T, addr, proto string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	c, _, err := service.Dial(ctx, "ws://"+addr+"/graphql", &service.DialOptions{Subprotocols: []string{proto}})
	if err != nil {
		t.Fatalf("dial %s: %v", proto, err)
	}
	t.Cleanup(func() { _ = c.Close(protocol.CloseNormal, "") })
	if c.Subprotocol() != proto {
		t.Fatalf("subprotocol %q, want %q", c.Subprotocol(), proto)
	}
	return &client{t: t, ctx: ctx, c: c}
}

// send sends a message as it is written.
func (c *client) send(raw string) {
	c.t.Helper()
	if err := c.c.Send(c.ctx, protocol.Text, []byte(raw)); err != nil {
		c.t.Fatalf("send %s: %v", raw, err)
	}
}

// recv reads the next message.
func (c *client) recv() frame {
	c.t.Helper()
	typ, data, err := c.c.Recv(c.ctx)
	if err != nil {
		code, reason := service.CloseStatus(err)
		c.t.Fatalf("recv: %v (close %d %q)", err, code, reason)
	}
	if typ != protocol.Text {
		c.t.Fatalf("a %v message, want text: %q", typ, data)
	}
	var w wireMessage
	if err := json.Unmarshal(data, &w); err != nil {
		c.t.Fatalf("recv %q: %v", data, err)
	}
	f := frame{ID: w.ID, Type: w.Type}
	if len(w.Payload) > 0 {
		var b bytes.Buffer
		if err := json.Compact(&b, w.Payload); err != nil {
			c.t.Fatal(err)
		}
		f.Payload = b.String()
	}
	return f
}

// expect reads len(want) messages and compares them with want.
func (c *client) expect(want ...frame) {
	c.t.Helper()
	got := make([]frame, len(want))
	for i := range want {
		got[i] = c.recv()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		c.t.Errorf("messages (-want +got):\n%s", diff)
	}
}

// expectClose reads until the connection closes, and checks its close
// code and reason. It returns the messages that came before the close.
func (c *client) expectClose(code protocol.CloseCode, reason string) []frame {
	c.t.Helper()
	var before []frame
	for {
		typ, data, err := c.c.Recv(c.ctx)
		if err != nil {
			gotCode, gotReason := service.CloseStatus(err)
			if gotCode != code || gotReason != reason {
				c.t.Errorf("closed with %d %q (%v), want %d %q", gotCode, gotReason, err, code, reason)
			}
			return before
		}
		var w wireMessage
		if typ != protocol.Text || json.Unmarshal(data, &w) != nil {
			c.t.Fatalf("before the close: %v %q", typ, data)
		}
		before = append(before, frame{ID: w.ID, Type: w.Type, Payload: string(w.Payload)})
	}
}

// init sends connection_init and reads connection_ack (graphql-transport-ws).
func (c *client) init() {
	c.t.Helper()
	c.send(`{"type":"connection_init"}`)
	c.expect(frame{Type: "connection_ack"})
}

// initLegacy sends connection_init and reads connection_ack and the
// first ka (graphql-ws).
func (c *client) initLegacy() {
	c.t.Helper()
	c.send(`{"type":"connection_init","payload":{}}`)
	c.expect(frame{Type: "connection_ack"}, frame{Type: "ka"})
}

// sync makes a ping round trip (graphql-transport-ws): every message the
// client sent before has been handled once the pong is read. It returns
// the messages read before the pong.
func (c *client) sync() []frame {
	c.t.Helper()
	c.send(`{"type":"ping","payload":{"sync":true}}`)
	var before []frame
	for {
		f := c.recv()
		if f.Type == "pong" && f.Payload == `{"sync":true}` {
			return before
		}
		before = append(before, f)
	}
}

// post runs the mutation post over HTTP and returns the message's ID.
func post(t *testing.T, addr, text string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"query":     `mutation Post($text: String!) { post(text: $text) { id text } }`,
		"variables": map[string]any{"text": text},
	})
	status, resp := postJSON(t, addr, string(body))
	var r struct {
		Data struct{ Post struct{ ID, Text string } }
	}
	if err := json.Unmarshal([]byte(resp), &r); status != http.StatusOK || err != nil || r.Data.Post.Text != text || r.Data.Post.ID == "" {
		t.Fatalf("post %q: %d %s", text, status, resp)
	}
	return r.Data.Post.ID
}

// postJSON posts body to /graphql as JSON and returns the status and the
// response body.
func postJSON(t *testing.T, addr, body string) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/graphql", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// countdown is the messages of countdown(from: n) for operation id, with
// the result message's type (next or data), complete included.
func countdown(id, result string, n int) []frame {
	var fs []frame
	for i := n; i >= 0; i-- {
		b, _ := json.Marshal(map[string]any{"data": map[string]int{"countdown": i}})
		fs = append(fs, frame{ID: id, Type: result, Payload: string(b)})
	}
	return append(fs, frame{ID: id, Type: "complete"})
}

// messageFrame is the result of the messages subscription id for a
// posted message.
func messageFrame(id, result, msgID, text string) frame {
	b, _ := json.Marshal(map[string]any{"data": map[string]any{"messages": map[string]string{"id": msgID, "text": text}}})
	return frame{ID: id, Type: result, Payload: string(b)}
}

// TestMessagesAcrossConnections posts messages over HTTP and over each
// protocol, and checks that every messages subscription, on either
// protocol, receives each of them, in order.
func TestMessagesAcrossConnections(t *testing.T) {
	t.Parallel()
	p := wstest.Start(t, bin, "-addr", "127.0.0.1:0")
	tws := dial(t, p.Addr, "graphql-transport-ws")
	tws.init()
	tws.send(`{"id":"s1","type":"subscribe","payload":{"query":"subscription { messages { id text } }"}}`)
	tws.send(`{"id":"s2","type":"subscribe","payload":{"query":"subscription { messages { text } }"}}`)
	tws.sync() // both subscriptions are set up

	lws := dial(t, p.Addr, "graphql-ws")
	lws.initLegacy()
	lws.send(`{"id":"s","type":"start","payload":{"query":"subscription { messages { id text } }"}}`)
	// The query after it is handled after the subscription is set up.
	lws.send(`{"id":"q","type":"start","payload":{"query":"{ hello }"}}`)
	lws.expect(frame{ID: "q", Type: "data", Payload: `{"data":{"hello":"Hello, world!"}}`}, frame{ID: "q", Type: "complete"})

	id1 := post(t, p.Addr, "over HTTP")
	tws.send(`{"id":"p","type":"subscribe","payload":{"query":"mutation { post(text: \"over graphql-transport-ws\") { id } }"}}`)
	var id2 string
	var fromTransport []frame
	for len(fromTransport) < 4 || id2 == "" {
		f := tws.recv()
		switch {
		case f.ID == "p" && f.Type == "next":
			var r struct {
				Data struct{ Post struct{ ID string } }
			}
			if err := json.Unmarshal([]byte(f.Payload), &r); err != nil {
				t.Fatal(err)
			}
			id2 = r.Data.Post.ID
		case f.ID == "p" && f.Type == "complete":
		default:
			fromTransport = append(fromTransport, f)
		}
	}
	// Each subscription in order; the two interleaved as they come.
	var s1, s2 []frame
	for _, f := range fromTransport {
		if f.ID == "s1" {
			s1 = append(s1, f)
		} else {
			s2 = append(s2, f)
		}
	}
	want1 := []frame{messageFrame("s1", "next", id1, "over HTTP"), messageFrame("s1", "next", id2, "over graphql-transport-ws")}
	if diff := cmp.Diff(want1, s1); diff != "" {
		t.Errorf("s1 (-want +got):\n%s", diff)
	}
	want2 := []frame{
		{ID: "s2", Type: "next", Payload: `{"data":{"messages":{"text":"over HTTP"}}}`},
		{ID: "s2", Type: "next", Payload: `{"data":{"messages":{"text":"over graphql-transport-ws"}}}`},
	}
	if diff := cmp.Diff(want2, s2); diff != "" {
		t.Errorf("s2 (-want +got):\n%s", diff)
	}
	var fromLegacy []frame
	for len(fromLegacy) < 2 {
		if f := lws.recv(); f.Type != "ka" {
			fromLegacy = append(fromLegacy, f)
		}
	}
	want := []frame{messageFrame("s", "data", id1, "over HTTP"), messageFrame("s", "data", id2, "over graphql-transport-ws")}
	if diff := cmp.Diff(want, fromLegacy); diff != "" {
		t.Errorf("graphql-ws subscriber (-want +got):\n%s", diff)
	}
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	p := wstest.Start(t, bin, "-addr", "127.0.0.1:0")
	for _, tt := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"query", `{"query":"{ hello }"}`, 200, `{"data":{"hello":"Hello, world!"}}`},
		{"variables and operationName", `{"query":"query A { hello } query B($n: String) { hello(name: $n) }","operationName":"B","variables":{"n":"Cy"}}`, 200, `{"data":{"hello":"Hello, Cy!"}}`},
		{"mutation", `{"query":"mutation { post(text: \"by HTTP\") { text } }"}`, 200, `{"data":{"post":{"text":"by HTTP"}}}`},
		{"validation error", `{"query":"{ nope }"}`, 200, `{"errors":[{"message":"Cannot query field \"nope\" on type \"Query\".","locations":[{"line":1,"column":3}]}]}`},
		{"subscription", `{"query":"subscription { countdown(from: 1) }"}`, 200, `{"errors":[{"message":"subscriptions are served over WebSocket, with graphql-transport-ws or graphql-ws"}]}`},
		{"not JSON", `query { hello }`, 400, `{"errors":[{"message":"the request body is not a GraphQL request: invalid character 'q' looking for beginning of value"}]}`},
		{"no query", `{"variables":{}}`, 400, `{"errors":[{"message":"the request has no \"query\""}]}`},
		{"two values", `{"query":"{ hello }"} {}`, 400, `{"errors":[{"message":"the request body holds more than one JSON value"}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, body := postJSON(t, p.Addr, tt.body)
			if status != tt.status || body != tt.want {
				t.Errorf("got %d %s\nwant %d %s", status, body, tt.status, tt.want)
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		t.Parallel()
		resp, err := http.Get("http://" + p.Addr + "/graphql?query=%7Bhello%7D")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
			t.Errorf("got %s, Allow %q; want 405, Allow POST", resp.Status, resp.Header.Get("Allow"))
		}
	})
	t.Run("not application/json", func(t *testing.T) {
		t.Parallel()
		resp, err := http.Post("http://"+p.Addr+"/graphql", "text/plain", strings.NewReader(`{"query":"{ hello }"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("got %s, want 415", resp.Status)
		}
	})
}

// TestNegotiation checks the route's protocol table: a client picks
// either protocol by its offer, and one offering neither is refused.
func TestNegotiation(t *testing.T) {
	t.Parallel()
	p := wstest.Start(t, bin, "-addr", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tt := range []struct {
		offer []string
		want  string
	}{
		{[]string{"graphql-transport-ws", "graphql-ws"}, "graphql-transport-ws"},
		{[]string{"graphql-ws", "graphql-transport-ws"}, "graphql-ws"},
	} {
		c, _, err := service.Dial(ctx, "ws://"+p.Addr+"/graphql", &service.DialOptions{Subprotocols: tt.offer})
		if err != nil {
			t.Fatal(err)
		}
		if c.Subprotocol() != tt.want {
			t.Errorf("offer %q: %q, want %q", tt.offer, c.Subprotocol(), tt.want)
		}
		_ = c.Close(protocol.CloseNormal, "")
	}
	for _, offer := range [][]string{nil, {"graphql"}} {
		_, resp, err := service.Dial(ctx, "ws://"+p.Addr+"/graphql", &service.DialOptions{Subprotocols: offer})
		var he *service.HandshakeError
		if !errors.As(err, &he) || resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("offer %q: %v, want a 400 refusal", offer, err)
		}
	}
}

// TestShutdown stops the program: every open connection, of either
// protocol and with a subscription running, is closed with 1001.
func TestShutdown(t *testing.T) {
	t.Parallel()
	p := wstest.Start(t, bin, "-addr", "127.0.0.1:0")
	tws := dial(t, p.Addr, "graphql-transport-ws")
	tws.init()
	tws.send(`{"id":"c","type":"subscribe","payload":{"query":"subscription { countdown(from: 1000) }"}}`)
	tws.recv()
	lws := dial(t, p.Addr, "graphql-ws")
	lws.initLegacy()
	if err := p.Stop(syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client{tws, lws} {
		for {
			_, _, err := c.c.Recv(c.ctx)
			if err != nil {
				if code, _ := service.CloseStatus(err); code != protocol.CloseGoingAway {
					t.Errorf("%s: %v, want 1001", c.c.Subprotocol(), err)
				}
				break
			}
		}
	}
}
