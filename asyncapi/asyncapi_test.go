package asyncapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/asyncapi"
	"github.com/wsmap/wsmap/internal/asyncapitest"
	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

var nop = service.HandlerFunc(func(context.Context, *service.Conn) error { return nil })

// write returns d as the JSON WriteTo writes, checked against the
// official schema.
func write(t *testing.T, d *asyncapi.Document) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := d.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	asyncapitest.Validate(t, b.Bytes())
	return b.Bytes()
}

func TestNewValid(t *testing.T) {
	t.Parallel()
	str := json.RawMessage(`{"type": "string"}`)
	for _, tt := range []struct {
		name   string
		opts   *asyncapi.Options
		mounts func() []asyncapi.Mount
	}{
		{"empty", nil, func() []asyncapi.Mount { return nil }},
		{"routes without docs", nil, func() []asyncapi.Mount {
			return []asyncapi.Mount{{Mux: mux.MustNew(
				mux.Route{Pattern: `/echo`, Protocols: []mux.Protocol{{Name: "echo.v2", Handler: nop}, {Name: "echo.v1", Handler: nop}}, NoProtocol: nop},
				mux.Route{Pattern: `/chat/(?P<room>[a-z]+)`, NoProtocol: nop},
				mux.Route{Pattern: `/a|/b`, Protocols: []mux.Protocol{{Name: "x", Handler: nop}}, Policy: protocol.ServerOrder},
				mux.Route{Pattern: `/fallback`, Protocols: []mux.Protocol{{Name: "x", Handler: nop}}, NoProtocol: nop, FallbackNoMatch: true},
				mux.Route{Pattern: `/page`, HTTP: http.NotFoundHandler()},
			)}}
		}},
		{"docs everywhere", &asyncapi.Options{
			Title: "T", Version: "1.2.3", Description: "D",
			Servers: map[string]*asyncapi.Server{"local": {Host: "127.0.0.1:8080", Protocol: "ws"}},
		}, func() []asyncapi.Mount {
			call := mux.MessageDoc{Name: "Call", From: mux.FromEither, Payload: str, Replies: []mux.MessageDoc{{Payload: str}, {Name: "hello"}}}
			return []asyncapi.Mount{
				{Prefix: "/ws/{tenant}", Mux: mux.MustNew(mux.Route{
					Pattern: `/rpc/(?P<id>[0-9]+)`,
					Doc:     &mux.Doc{Title: "RPC", Summary: "S", Description: "D", Messages: []mux.MessageDoc{{Name: "hello", From: mux.FromServer}}},
					Protocols: []mux.Protocol{
						{Name: "rpc.v1", Handler: nop, Doc: &mux.Doc{Title: "v1", Messages: []mux.MessageDoc{call, {Name: "Call.reply", From: mux.FromClient}}}},
						{Name: "rpc.v2", Handler: nop},
					},
					NoProtocol: nop,
				})},
				{Prefix: "/other/", Mux: mux.MustNew(mux.Route{Pattern: `/rpc/(?P<id>[0-9]+)`, NoProtocol: nop})},
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := asyncapi.New(tt.opts, tt.mounts()...)
			if err != nil {
				t.Fatal(err)
			}
			write(t, d)
		})
	}
}

// TestNewChannels checks what routes without docs become.
func TestNewChannels(t *testing.T) {
	t.Parallel()
	m := mux.MustNew(
		mux.Route{Pattern: `/echo`, Protocols: []mux.Protocol{{Name: "echo.v2", Handler: nop}, {Name: "echo.v1", Handler: nop}}, NoProtocol: nop},
		mux.Route{Pattern: `/chat/(?P<room>[a-z]+)`, NoProtocol: nop, HTTP: http.NotFoundHandler()},
		mux.Route{Pattern: `/a|/b`, Protocols: []mux.Protocol{{Name: "x", Handler: nop}}, Policy: protocol.ServerOrder},
		mux.Route{Pattern: `/page`, HTTP: http.NotFoundHandler()},
		mux.Route{Pattern: `/`, NoProtocol: nop},
	)
	d, err := asyncapi.New(nil, asyncapi.Mount{Prefix: "/ws/{tenant}/", Mux: m})
	if err != nil {
		t.Fatal(err)
	}
	write(t, d)
	if d.Info != (asyncapi.Info{Title: "WebSocket API", Version: "0.0.0"}) {
		t.Errorf("info %+v", d.Info)
	}
	type summary struct {
		Address    string
		Params     map[string]string
		Headers    string
		Extension  asyncapi.RouteExtension
		Operations int
	}
	got := map[string]summary{}
	for id, ch := range d.Channels {
		s := summary{Address: "null", Headers: string(ch.Bindings.WS.Headers), Extension: *ch.Extension}
		if ch.Address != nil {
			s.Address = *ch.Address
		}
		for name, p := range ch.Parameters {
			if s.Params == nil {
				s.Params = map[string]string{}
			}
			s.Params[name] = p.Pattern
		}
		if ch.Bindings.WS.Method != "GET" || ch.Bindings.WS.BindingVersion != "0.1.0" {
			t.Errorf("%s: binding %+v", id, ch.Bindings.WS)
		}
		got[id] = s
	}
	headers := func(required bool, protos ...string) string {
		s := `{"properties":{"Sec-WebSocket-Protocol":{"description":"`
		pattern, _ := json.Marshal(asyncapi.TokenList)
		return s + protos[0] + `","examples":["` + strings.Join(protos[1:], `","`) + `"],"pattern":` + string(pattern) + `,"type":"string"}},` + map[bool]string{true: `"required":["Sec-WebSocket-Protocol"],`}[required] + `"type":"object"}`
	}
	tenant := map[string]string{"tenant": "[^/]+"}
	want := map[string]summary{
		"ws_tenant_echo": {
			Address: "/ws/{tenant}/echo", Params: tenant,
			Headers:   headers(false, "The subprotocols the client offers, in its order of preference: one a header line, or several separated by commas. The server chooses the first of these in the client's order of preference. A client may offer none; an offer of others is refused with 400.", "echo.v2", "echo.v1"),
			Extension: asyncapi.RouteExtension{Pattern: "/echo", Prefix: "/ws/{tenant}", Subprotocols: []asyncapi.Subprotocol{{Name: "echo.v2"}, {Name: "echo.v1"}}, NoSubprotocol: true, Policy: "client order"},
		},
		"ws_tenant_chat_room": {
			Address: "/ws/{tenant}/chat/{room}", Params: map[string]string{"tenant": "[^/]+", "room": "[a-z]+"},
			Extension: asyncapi.RouteExtension{Pattern: "/chat/(?P<room>[a-z]+)", Prefix: "/ws/{tenant}", Subprotocols: []asyncapi.Subprotocol{}, NoSubprotocol: true, Policy: "client order", HTTP: true},
		},
		"a_b": {
			Address:   "null",
			Headers:   headers(true, "The subprotocols the client offers, in its order of preference: one a header line, or several separated by commas. The server chooses the first of these in the order listed here. A client that offers none of them is refused with 400.", "x"),
			Extension: asyncapi.RouteExtension{Pattern: "/a|/b", Prefix: "/ws/{tenant}", Subprotocols: []asyncapi.Subprotocol{{Name: "x"}}, Policy: "server order"},
		},
		"ws_tenant": {
			Address: "/ws/{tenant}", Params: tenant,
			Extension: asyncapi.RouteExtension{Pattern: "/", Prefix: "/ws/{tenant}", Subprotocols: []asyncapi.Subprotocol{}, NoSubprotocol: true, Policy: "client order"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("channels (-want +got):\n%s", diff)
	}
	if len(d.Operations) != 0 {
		t.Errorf("%d operations, want none without docs", len(d.Operations))
	}
}

// TestNewMessages checks the messages and operations of docs.
func TestNewMessages(t *testing.T) {
	t.Parallel()
	obj := json.RawMessage(`{"type":"object"}`)
	m := mux.MustNew(mux.Route{
		Pattern:    `/rpc`,
		Doc:        &mux.Doc{Title: "RPC", Messages: []mux.MessageDoc{{Name: "banner", From: mux.FromServer, ContentType: "text/plain"}}},
		NoProtocol: nop,
		Protocols: []mux.Protocol{{Name: "rpc", Handler: nop, Doc: &mux.Doc{Summary: "calls", Messages: []mux.MessageDoc{
			{Name: "add", Title: "Add", From: mux.FromClient, Payload: obj, Replies: []mux.MessageDoc{{Payload: obj}, {Name: "error", Payload: obj}}},
			{Name: "sub", From: mux.FromClient, Replies: []mux.MessageDoc{{}, {Name: "error", Summary: "ignored"}, {Name: "ping"}}},
			{Name: "ping", From: mux.FromEither},
		}}}},
	})
	d, err := asyncapi.New(nil, asyncapi.Mount{Mux: m})
	if err != nil {
		t.Fatal(err)
	}
	write(t, d)
	ch := d.Channels["rpc"]
	if ch.Title != "RPC" || ch.Extension.Subprotocols[0] != (asyncapi.Subprotocol{Name: "rpc", Summary: "calls"}) {
		t.Errorf("channel title %q, subprotocols %+v", ch.Title, ch.Extension.Subprotocols)
	}
	wantMessages := map[string]*asyncapi.Message{
		"banner":         {Name: "banner", ContentType: "text/plain"},
		"rpc_add":        {Name: "add", Title: "Add", Payload: obj, Subprotocol: "rpc"},
		"rpc_add.reply1": {Name: "add.reply1", Payload: obj, Subprotocol: "rpc"},
		"rpc_error":      {Name: "error", Payload: obj, Subprotocol: "rpc"},
		"rpc_sub":        {Name: "sub", Subprotocol: "rpc"},
		"rpc_sub.reply1": {Name: "sub.reply1", Subprotocol: "rpc"},
		"rpc_ping":       {Name: "ping", Subprotocol: "rpc"},
	}
	if diff := cmp.Diff(wantMessages, ch.Messages); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	ref := func(s string) asyncapi.Reference { return asyncapi.Reference{Ref: s} }
	refs := func(s string) []asyncapi.Reference { return []asyncapi.Reference{ref(s)} }
	rpc := ref("#/channels/rpc")
	wantOps := map[string]*asyncapi.Operation{
		"rpc_banner_send": {Action: "send", Channel: rpc, Messages: refs("#/channels/rpc/messages/banner")},
		"rpc_rpc_add_receive": {Action: "receive", Channel: rpc, Messages: refs("#/channels/rpc/messages/rpc_add"), Subprotocol: "rpc",
			Reply: &asyncapi.Reply{Channel: &rpc, Messages: []asyncapi.Reference{ref("#/channels/rpc/messages/rpc_add.reply1"), ref("#/channels/rpc/messages/rpc_error")}}},
		"rpc_rpc_sub_receive": {Action: "receive", Channel: rpc, Messages: refs("#/channels/rpc/messages/rpc_sub"), Subprotocol: "rpc",
			Reply: &asyncapi.Reply{Channel: &rpc, Messages: []asyncapi.Reference{ref("#/channels/rpc/messages/rpc_sub.reply1"), ref("#/channels/rpc/messages/rpc_error"), ref("#/channels/rpc/messages/rpc_ping")}}},
		"rpc_rpc_ping_receive": {Action: "receive", Channel: rpc, Messages: refs("#/channels/rpc/messages/rpc_ping"), Subprotocol: "rpc"},
		"rpc_rpc_ping_send":    {Action: "send", Channel: rpc, Messages: refs("#/channels/rpc/messages/rpc_ping"), Subprotocol: "rpc"},
	}
	if diff := cmp.Diff(wantOps, d.Operations); diff != "" {
		t.Errorf("operations (-want +got):\n%s", diff)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	route := func(doc *mux.Doc) []asyncapi.Mount {
		return []asyncapi.Mount{{Mux: mux.MustNew(mux.Route{Pattern: `/x/(?P<id>[0-9]+)`, NoProtocol: nop, Doc: doc})}}
	}
	for _, tt := range []struct {
		name   string
		mounts []asyncapi.Mount
		want   string
	}{
		{"nil mux", []asyncapi.Mount{{Prefix: "/a"}}, "mount 0 has no mux"},
		{"bad prefix", []asyncapi.Mount{{Prefix: "a", Mux: &mux.Mux{}}}, `prefix "a" does not start with "/"`},
		{"parameter twice", []asyncapi.Mount{{Prefix: "/{id}", Mux: route(nil)[0].Mux}}, `parameter "id" is both the prefix's and the pattern's`},
		{"no name", route(&mux.Doc{Messages: []mux.MessageDoc{{From: mux.FromClient}}}), "a message without a name"},
		{"twice", route(&mux.Doc{Messages: []mux.MessageDoc{{Name: "a"}, {Name: "a"}}}), `message "a" described twice`},
		{"bad payload", route(&mux.Doc{Messages: []mux.MessageDoc{{Name: "a", Payload: json.RawMessage(`{`)}}}), `message "a": the payload schema is not JSON`},
		{"bad direction", route(&mux.Doc{Messages: []mux.MessageDoc{{Name: "a", From: 9}}}), `invalid direction Direction(9)`},
	} {
		_, err := asyncapi.New(nil, tt.mounts...)
		if !errors.Is(err, asyncapi.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want ErrInvalid with %q", tt.name, err, tt.want)
		}
	}
}

// TestSchemaRefuses checks that the validation the tests rely on refuses
// what AsyncAPI 3.0.0 does not allow.
func TestSchemaRefuses(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{
		`{"asyncapi": "2.6.0", "info": {"title": "t", "version": "1"}}`,
		`{"asyncapi": "3.0.0", "info": {"title": "t"}}`,
		`{"asyncapi": "3.0.0", "info": {"title": "t", "version": "1"}, "channels": {"c": {"parameters": {"p": {"pattern": "x"}}}}}`,
		`{"asyncapi": "3.0.0", "info": {"title": "t", "version": "1"}, "channels": {"c": {"bindings": {"ws": {"method": "PUT"}}}}}`,
		`{"asyncapi": "3.0.0", "info": {"title": "t", "version": "1"}, "operations": {"o": {"action": "publish", "channel": {"$ref": "#/channels/c"}}}}`,
	} {
		if asyncapitest.Check([]byte(doc)) == nil {
			t.Errorf("valid: %s", doc)
		}
	}
}

// TestTokenList: the schema of a Sec-WebSocket-Protocol header accepts
// what a client may send, a list of tokens, and nothing else.
func TestTokenList(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(asyncapi.TokenList) // the pattern means the same in RE2 and ECMA-262
	for _, tt := range []struct {
		header string
		ok     bool
	}{
		{"echo.v2", true},
		{"echo.v2, echo.v1", true},
		{"echo.v2,echo.v1 ,graphql-ws", true},
		{" v1.chat.example.com\t", true},
		{"", false},
		{"echo v2", false},
		{"a,,b", false},
		{"a;b", false},
		{`"quoted"`, false},
		{"a,", false},
	} {
		if got := re.MatchString(tt.header); got != tt.ok {
			t.Errorf("%q: matched %t, want %t", tt.header, got, tt.ok)
		}
	}
}
