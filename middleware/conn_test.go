package middleware_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/time/rate"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/middleware"
	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
	"github.com/wsmap/wsmap/wsmaptest"
)

// logBuffer collects JSON log records from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the records logged so far, decoded.
func (b *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// closeRecord waits for the "websocket closed" record of the connection
// with the given request ID and returns the records of that connection.
func (b *logBuffer) connRecords(t *testing.T, id string) []map[string]any {
	t.Helper()
	var mine []map[string]any
	wstest.WaitFor(t, 5*time.Second, "the closing log record", func() bool {
		mine = nil
		for _, rec := range b.records(t) {
			if rec["request_id"] == id {
				mine = append(mine, rec)
			}
		}
		return len(mine) == 2
	})
	return mine
}

// stable removes the fields that vary from run to run from the records,
// after checking them.
func stable(t *testing.T, recs []map[string]any) []map[string]any {
	t.Helper()
	for _, rec := range recs {
		if ts, _ := rec["time"].(string); ts == "" {
			t.Errorf("record without a time: %v", rec)
		}
		if remote, _ := rec["remote"].(string); !strings.HasPrefix(remote, "127.0.0.1:") {
			t.Errorf("remote %q", rec["remote"])
		}
		delete(rec, "time")
		delete(rec, "remote")
		if d, ok := rec["duration"]; ok {
			if ns, _ := d.(float64); ns <= 0 {
				t.Errorf("duration %v", d)
			}
			delete(rec, "duration")
		}
	}
	return recs
}

func TestLog(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	m := &mux.Mux{}
	m.Use(middleware.RequestID(&middleware.RequestIDOptions{}))
	m.UseConn(middleware.Log(logger))
	m.Handle(`/room/(?P<id>[0-9]+)`, commands, "chat")
	base := serve(t, m)
	const route = `/room/(?P<id>[0-9]+)`

	open := func(id, proto string) map[string]any {
		return map[string]any{"level": "INFO", "msg": "websocket open", "route": route, "protocol": proto, "request_id": id}
	}
	closed := func(id, proto, level string, code float64, reason string, in, bin, out, bout float64) map[string]any {
		return map[string]any{"level": level, "msg": "websocket closed", "route": route, "protocol": proto, "request_id": id,
			"code": code, "reason": reason, "msgs_in": in, "bytes_in": bin, "msgs_out": out, "bytes_out": bout}
	}

	t.Run("client closes", func(t *testing.T) {
		t.Parallel()
		res := dial(t, base+"/room/7", nil, "chat")
		id := ask(t, res.conn, "reqid") // 5 bytes in, 32 out
		ask(t, res.conn, "hello")       // 5 in, 5 out
		if err := res.conn.Close(protocol.CloseNormal, "bye"); err != nil {
			t.Fatal(err)
		}
		want := []map[string]any{open(id, "chat"), closed(id, "chat", "INFO", 1000, "bye", 2, 10, 2, 37)}
		if diff := cmp.Diff(want, stable(t, logs.connRecords(t, id))); diff != "" {
			t.Errorf("records (-want +got):\n%s", diff)
		}
	})
	t.Run("handler fails", func(t *testing.T) {
		t.Parallel()
		res := dial(t, base+"/room/8", nil)
		id := ask(t, res.conn, "reqid")
		if err := res.conn.Send(context.Background(), protocol.Text, []byte("fail")); err != nil {
			t.Fatal(err)
		}
		if code, _ := recvClose(t, res.conn); code != protocol.CloseInternalError {
			t.Errorf("client saw close %v, want 1011", code)
		}
		want := []map[string]any{open(id, ""), closed(id, "", "ERROR", 1011, "internal error", 2, 9, 1, 32)}
		want[1]["error"] = "boom"
		if diff := cmp.Diff(want, stable(t, logs.connRecords(t, id))); diff != "" {
			t.Errorf("records (-want +got):\n%s", diff)
		}
	})
	t.Run("handler panics", func(t *testing.T) {
		t.Parallel()
		res := dial(t, base+"/room/9", nil)
		id := ask(t, res.conn, "reqid")
		if err := res.conn.Send(context.Background(), protocol.Text, []byte("panic")); err != nil {
			t.Fatal(err)
		}
		if code, _ := recvClose(t, res.conn); code != protocol.CloseInternalError {
			t.Errorf("client saw close %v, want 1011", code)
		}
		want := []map[string]any{open(id, ""), closed(id, "", "ERROR", 1011, "internal error", 2, 10, 1, 32)}
		want[1]["error"] = "service: handler panic: handler panics on purpose"
		got := stable(t, logs.connRecords(t, id))
		if stack, _ := got[len(got)-1]["stack"].(string); !strings.Contains(stack, "middleware/main_test.go") {
			t.Errorf("closing record's stack %q does not name the handler's file", stack)
		}
		delete(got[len(got)-1], "stack")
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("records (-want +got):\n%s", diff)
		}
	})
	t.Run("handler closes", func(t *testing.T) {
		t.Parallel()
		res := dial(t, base+"/room/10", nil)
		id := ask(t, res.conn, "reqid")
		if err := res.conn.Send(context.Background(), protocol.Text, []byte("close")); err != nil {
			t.Fatal(err)
		}
		if code, reason := recvClose(t, res.conn); code != 4000 || reason != "done" {
			t.Errorf("client saw close %v %q, want 4000 done", code, reason)
		}
		want := []map[string]any{open(id, ""), closed(id, "", "INFO", 4000, "done", 2, 10, 1, 32)}
		if diff := cmp.Diff(want, stable(t, logs.connRecords(t, id))); diff != "" {
			t.Errorf("records (-want +got):\n%s", diff)
		}
	})
}

func TestRecover(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	reports := make(chan *service.PanicError, 1)
	m := &mux.Mux{}
	m.Use(middleware.RequestID(&middleware.RequestIDOptions{}))
	m.UseConn(middleware.Log(slog.New(slog.NewJSONHandler(&logs, nil))),
		middleware.Recover(func(c *service.Conn, p *service.PanicError) { reports <- p }))
	m.Handle(`/ws`, commands)
	base := serve(t, m)

	bystander := dial(t, base+"/ws", nil)
	ask(t, bystander.conn, "before")
	victim := dial(t, base+"/ws", nil)
	id := ask(t, victim.conn, "reqid")
	if err := victim.conn.Send(context.Background(), protocol.Text, []byte("panic")); err != nil {
		t.Fatal(err)
	}
	if code, reason := recvClose(t, victim.conn); code != protocol.CloseInternalError || reason != "internal error" {
		t.Errorf("panicking connection closed with %v %q, want 1011 internal error", code, reason)
	}
	select {
	case p := <-reports:
		if p.Value != "handler panics on purpose" || !strings.Contains(string(p.Stack), "middleware_test.init") {
			t.Errorf("report: %v with stack\n%s", p.Value, p.Stack)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the panic was not reported")
	}
	// The server goes on: the other connection and new ones are served.
	if got := ask(t, bystander.conn, "after"); got != "after" {
		t.Errorf("bystander echo %q", got)
	}
	if got := ask(t, dial(t, base+"/ws", nil).conn, "new"); got != "new" {
		t.Errorf("new connection echo %q", got)
	}
	// Outside Recover, the close is an ordinary 1011, not a failure.
	recs := stable(t, logs.connRecords(t, id))
	if recs[1]["level"] != "INFO" || recs[1]["code"] != 1011.0 || recs[1]["error"] != nil {
		t.Errorf("closing record %v, want INFO 1011 without error", recs[1])
	}
}

func TestMessageRate(t *testing.T) {
	t.Parallel()
	delivered := make(chan string, 10)
	m := &mux.Mux{}
	m.UseConn(middleware.MessageRate(&middleware.MessageRateOptions{Rate: rate.Every(time.Hour), Burst: 3}))
	m.Handle(`/ws`, service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		for {
			_, data, err := c.Recv(ctx)
			if err != nil {
				return err
			}
			delivered <- string(data)
		}
	}))
	res := dial(t, serve(t, m)+"/ws", nil)
	ctx := context.Background()
	for _, msg := range []string{"1", "2", "3", "4"} {
		if err := res.conn.Send(ctx, protocol.Text, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	if code, reason := recvClose(t, res.conn); code != protocol.ClosePolicyViolation || reason != "message rate limit exceeded" {
		t.Errorf("closed with %v %q, want 1008 message rate limit exceeded", code, reason)
	}
	var got []string
	for len(delivered) > 0 {
		got = append(got, <-delivered)
	}
	if diff := cmp.Diff([]string{"1", "2", "3"}, got); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
}

// TestLogHandshake checks the record of each kind of refused handshake,
// field by field, and that connections carry the identity Auth attached.
func TestLogHandshake(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	m := &mux.Mux{}
	m.Use(middleware.RequestID(&middleware.RequestIDOptions{}),
		middleware.LogHandshake(logger),
		middleware.Origin(&middleware.OriginOptions{}))
	m.UseConn(middleware.Log(logger))
	m.Group(middleware.Auth(&middleware.AuthOptions{
		Verify: func(_ *http.Request, token string) (any, error) {
			if token != "alice-token" {
				return nil, errors.New("unknown")
			}
			return "alice", nil
		},
	})).Handle(`/calc/(?P<session>[^/]+)`, commands, "calc.v2", "calc.v1")
	base := serve(t, m)
	const route = `/calc/(?P<session>[^/]+)`
	bearer := http.Header{"Authorization": {"Bearer alice-token"}}
	tests := []struct {
		name   string
		path   string
		header http.Header
		offer  []string
		want   map[string]any
	}{
		{"no route", "/nowhere", nil, nil,
			map[string]any{"status": 404.0, "reason": `no WebSocket service at "/nowhere"`, "path": "/nowhere"}},
		{"no protocol in common", "/calc/abc", bearer, []string{"calc.v3"},
			map[string]any{"status": 400.0, "reason": "no offered subprotocol is supported; supported: calc.v2, calc.v1", "path": "/calc/abc", "route": route}},
		{"no credentials", "/calc/abc", nil, []string{"calc.v2"},
			map[string]any{"status": 401.0, "reason": "missing credentials", "path": "/calc/abc", "route": route}},
		{"cross-origin", "/calc/abc", http.Header{"Origin": {"https://evil.example"}}, []string{"calc.v2"},
			map[string]any{"status": 403.0, "reason": `origin "https://evil.example" is not allowed`, "path": "/calc/abc"}},
	}
	for _, tt := range tests {
		res := dial(t, base+tt.path, tt.header, tt.offer...)
		if res.conn != nil {
			t.Fatalf("%s: connected", tt.name)
		}
		id := res.header.Get("X-Request-Id")
		var got map[string]any
		wstest.WaitFor(t, 5*time.Second, "the refusal's record", func() bool {
			for _, rec := range logs.records(t) {
				if rec["request_id"] == id && rec["msg"] == "websocket refused" {
					got = rec
					return true
				}
			}
			return false
		})
		want := maps.Clone(tt.want)
		want["level"], want["msg"], want["request_id"] = "WARN", "websocket refused", id
		if diff := cmp.Diff(want, stable(t, []map[string]any{got})[0]); diff != "" {
			t.Errorf("%s: record (-want +got):\n%s", tt.name, diff)
		}
	}

	res := dial(t, base+"/calc/abc", bearer, "calc.v1")
	id := ask(t, res.conn, "reqid")
	if err := res.conn.Close(protocol.CloseNormal, ""); err != nil {
		t.Fatal(err)
	}
	for _, rec := range logs.connRecords(t, id) {
		if rec["identity"] != "alice" || rec["route"] != route {
			t.Errorf("%s: identity %v, route %v; want alice on %s", rec["msg"], rec["identity"], rec["route"], route)
		}
	}
}

// TestProbeBehindLogHandshake checks that wsmaptest.Probe names the route
// of a mux whose handshakes LogHandshake logs, set up as
// docs/middleware.md shows, for accepted and refused handshakes alike,
// and that LogHandshake's record names it too.
func TestProbeBehindLogHandshake(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	m := &mux.Mux{}
	m.Use(middleware.RequestID(&middleware.RequestIDOptions{}), middleware.LogHandshake(logger))
	m.UseConn(middleware.Log(logger))
	const route = `/calc/(?P<session>[^/]+)`
	m.Handle(route, commands, "calc.v2", "calc.v1")
	tests := []struct {
		name  string
		offer []string
		want  wsmaptest.ProbeResult
	}{
		{"accepted", []string{"calc.v1"}, wsmaptest.ProbeResult{Status: http.StatusSwitchingProtocols, Protocol: "calc.v1", Route: route}},
		{"refused", []string{"calc.v3"}, wsmaptest.ProbeResult{Status: http.StatusBadRequest, Route: route,
			Reason: "no offered subprotocol is supported; supported: calc.v2, calc.v1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := wsmaptest.Probe(m, wsmaptest.UpgradeRequest("/calc/abc", tt.offer...))
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(wsmaptest.ProbeResult{}, "Header")); diff != "" {
				t.Errorf("Probe (-want +got):\n%s", diff)
			}
		})
	}
	var refused []map[string]any
	for _, rec := range logs.records(t) {
		if rec["msg"] == "websocket refused" {
			refused = append(refused, rec)
		}
	}
	if len(refused) != 1 || refused[0]["route"] != route {
		t.Errorf("LogHandshake's records of refusals: %v, want one with route %s", refused, route)
	}
}
