package wsmaptest_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wsmap/wsmap/middleware"
	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
	"github.com/wsmap/wsmap/wsmaptest"
)

// echo answers each message with the subprotocol, the room and the
// message, and closes with 4000 on "bye".
var echo = service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
	for {
		typ, data, err := c.Recv(ctx)
		if err != nil {
			return err
		}
		if string(data) == "bye" {
			return &service.CloseError{Code: 4000, Reason: "bye"}
		}
		if err := c.Send(ctx, typ, []byte(c.Subprotocol()+"|"+c.Param("room")+"|"+string(data))); err != nil {
			return err
		}
	}
})

func table(t *testing.T) *mux.Mux {
	t.Helper()
	m, err := mux.New(
		mux.Route{Pattern: `/calc`, Protocols: []mux.Protocol{{Name: "calc.v2", Handler: echo}, {Name: "calc.v1", Handler: echo}}},
		mux.Route{Pattern: `/rooms/(?P<room>[a-z]+)`, NoProtocol: echo},
	)
	if err != nil {
		t.Fatal(err)
	}
	private := m.Group(middleware.Auth(&middleware.AuthOptions{Verify: func(_ *http.Request, tok string) (any, error) {
		if tok != "good" {
			return nil, errors.New("no")
		}
		return "alice", nil
	}}))
	if err := private.Add(mux.Route{Pattern: `/private`, NoProtocol: echo}); err != nil {
		t.Fatal(err)
	}
	return m
}

func ask(t *testing.T, c *service.Conn, msg string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Send(ctx, protocol.Text, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	_, data, err := c.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestServerDial(t *testing.T) {
	t.Parallel()
	s := wsmaptest.NewServer(t, table(t))
	ctx := context.Background()
	c, err := s.Dial(ctx, "/calc", &service.DialOptions{Subprotocols: []string{"calc.v1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := ask(t, c, "1+1"); got != "calc.v1||1+1" {
		t.Errorf("calc: %q", got)
	}
	c, err = s.Dial(ctx, "rooms/lobby", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := ask(t, c, "hi"); got != "|lobby|hi" {
		t.Errorf("room: %q", got)
	}
	_ = c.Send(ctx, protocol.Text, []byte("bye"))
	if reason := wsmaptest.ExpectClose(t, c, 4000); reason != "bye" {
		t.Errorf("close reason %q", reason)
	}

	for _, tt := range []struct {
		path   string
		offer  []string
		status int
		reason string
	}{
		{"/calc", []string{"calc.v9"}, 400, "no offered subprotocol is supported; supported: calc.v2, calc.v1"},
		{"/nowhere?token=x", nil, 404, `no WebSocket service at "/nowhere"`},
		{"/private", nil, 401, "missing credentials"},
	} {
		_, err := s.Dial(ctx, tt.path, &service.DialOptions{Subprotocols: tt.offer})
		he, ok := wsmaptest.Refusal(err)
		if !ok || he.Status != tt.status || he.Reason != tt.reason {
			t.Errorf("%s: %v, want %d %q", tt.path, err, tt.status, tt.reason)
		}
	}
}

func TestConnectAndPair(t *testing.T) {
	t.Parallel()
	c := wsmaptest.Connect(t, echo, &wsmaptest.Options{Protocols: []string{"p"}})
	if got := ask(t, c, "x"); got != "p||x" {
		t.Errorf("Connect: %q", got)
	}
	server, client := wsmaptest.Pair(t, nil)
	ctx := context.Background()
	if err := server.Send(ctx, protocol.Text, []byte("from the server")); err != nil {
		t.Fatal(err)
	}
	if _, data, err := client.Recv(ctx); err != nil || string(data) != "from the server" {
		t.Fatalf("client got %q, %v", data, err)
	}
	if err := server.Close(4001, "done"); err != nil {
		t.Fatal(err)
	}
	if reason := wsmaptest.ExpectClose(t, client, 4001); reason != "done" {
		t.Errorf("reason %q", reason)
	}
}

func TestProbe(t *testing.T) {
	t.Parallel()
	m := table(t)
	authed := func(r *http.Request) *http.Request { r.Header.Set("Authorization", "Bearer good"); return r }
	tests := []struct {
		name string
		req  *http.Request
		want wsmaptest.ProbeResult
	}{
		{"client's order", wsmaptest.UpgradeRequest("/calc", "calc.v1", "calc.v2"),
			wsmaptest.ProbeResult{Status: 101, Protocol: "calc.v1", Route: "/calc"}},
		{"no protocol offered to a route that needs one", wsmaptest.UpgradeRequest("/calc"),
			wsmaptest.ProbeResult{Status: 400, Reason: "this service requires a subprotocol; supported: calc.v2, calc.v1", Route: "/calc"}},
		{"a parameter", wsmaptest.UpgradeRequest("/rooms/lobby"),
			wsmaptest.ProbeResult{Status: 101, Route: "/rooms/(?P<room>[a-z]+)"}},
		{"no route", wsmaptest.UpgradeRequest("/x"),
			wsmaptest.ProbeResult{Status: 404, Reason: `no WebSocket service at "/x"`}},
		{"refused by middleware", wsmaptest.UpgradeRequest("/private"),
			wsmaptest.ProbeResult{Status: 401, Reason: "missing credentials", Route: "/private"}},
		{"let through by middleware", authed(wsmaptest.UpgradeRequest("/private")),
			wsmaptest.ProbeResult{Status: 101, Route: "/private"}},
	}
	for _, tt := range tests {
		got := wsmaptest.Probe(m, tt.req)
		if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(wsmaptest.ProbeResult{}, "Header")); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	if got := wsmaptest.Probe(m, wsmaptest.UpgradeRequest("/private")); got.Header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("refusal's headers: %v", got.Header)
	}
}

// TestCloseWaitsForHandlers checks that a server's Close sends 1001 to
// its connections and waits for their handlers.
func TestCloseWaitsForHandlers(t *testing.T) {
	t.Parallel()
	returned := make(chan struct{})
	s := wsmaptest.NewServer(t, &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		defer close(returned)
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond)
		return nil
	})})
	c, err := s.Dial(context.Background(), "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	select {
	case <-returned:
	default:
		t.Error("Close returned before the handler")
	}
	wsmaptest.ExpectClose(t, c, protocol.CloseGoingAway)
}
