package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/middleware"
	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestFailureLoggedByDefault checks that a handler's failure that no hook
// was set to hear is logged once through slog.Default(), field by field,
// and that a close, a *MessageError, the peer's close, and a failure a
// hook or middleware reported are not. It sets the default logger, so it
// does not run in parallel with other tests.
func TestFailureLoggedByDefault(t *testing.T) {
	var logs syncBuffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })

	var mwLogs syncBuffer
	var hooked []error
	var hookedMu sync.Mutex
	onError := func(_ *service.Conn, err error) {
		hookedMu.Lock()
		defer hookedMu.Unlock()
		hooked = append(hooked, err)
	}
	failWith := func(err error) service.Handler {
		return service.HandlerFunc(func(ctx context.Context, c *service.Conn) error { return err })
	}
	panics := service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		panic("handler panics on purpose")
	})
	untilPeerCloses := service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		_, _, err := c.Recv(ctx)
		return err
	})
	const route = `/fail/(?P<id>[0-9]+)`
	tests := []struct {
		name    string
		route   mux.Route
		peer    bool // the client closes first
		want    map[string]any
		stack   bool // the record has a stack naming this test's file
		hooked  int  // errors given to OnError
		mwLogs  bool // middleware.Log logged the failure
		wantErr string
	}{
		{name: "error", route: mux.Route{Protocols: []mux.Protocol{{Name: "calc.v1", Handler: failWith(errors.New("parse: unexpected end of input"))}}},
			want: map[string]any{"level": "ERROR", "msg": "websocket handler failed", "route": route, "protocol": "calc.v1",
				"error": "parse: unexpected end of input"}},
		{name: "panic", route: mux.Route{NoProtocol: panics},
			want: map[string]any{"level": "ERROR", "msg": "websocket handler panic", "route": route, "protocol": "",
				"panic": "handler panics on purpose"}, stack: true},
		{name: "close", route: mux.Route{NoProtocol: failWith(&service.CloseError{Code: protocol.ClosePolicyViolation, Reason: "no"})}},
		{name: "message error", route: mux.Route{NoProtocol: failWith(&service.MessageError{Code: protocol.CloseUnsupportedData, Reason: "not JSON"})}},
		{name: "peer's close", route: mux.Route{NoProtocol: untilPeerCloses}, peer: true},
		{name: "OnError set", route: mux.Route{NoProtocol: failWith(errors.New("boom")), Options: &service.Options{OnError: onError}}, hooked: 1},
		{name: "OnError set, panic", route: mux.Route{NoProtocol: panics, Options: &service.Options{OnError: onError}}, hooked: 1},
		{name: "behind Log", route: mux.Route{NoProtocol: failWith(errors.New("boom")),
			ConnMiddleware: []func(service.Handler) service.Handler{middleware.Log(slog.New(slog.NewJSONHandler(&mwLogs, nil)))}}, mwLogs: true},
		{name: "behind Log, panic", route: mux.Route{NoProtocol: panics,
			ConnMiddleware: []func(service.Handler) service.Handler{middleware.Log(slog.New(slog.NewJSONHandler(&mwLogs, nil)))}}, mwLogs: true},
		{name: "behind Recover", route: mux.Route{NoProtocol: panics,
			ConnMiddleware: []func(service.Handler) service.Handler{middleware.Recover(func(*service.Conn, *service.PanicError) {})}}},
		{name: "Events with OnError", route: mux.Route{NoProtocol: &service.Events{
			OnOpen:  func(context.Context, *service.Conn) error { return errors.New("boom") },
			OnError: func(*service.Conn, error) {},
		}}},
		{name: "Events without OnError", route: mux.Route{NoProtocol: &service.Events{
			OnOpen: func(context.Context, *service.Conn) error { return errors.New("open failed") },
		}}, want: map[string]any{"level": "ERROR", "msg": "websocket handler failed", "route": route, "protocol": "", "error": "open failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(strings.Split(logs.String(), "\n"))
			mwBefore := mwLogs.String()
			hookedMu.Lock()
			hookedBefore := len(hooked)
			hookedMu.Unlock()

			r := tt.route
			r.Pattern = route
			m := mux.MustNew(r)
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &service.Server{Handler: m}
			go func() { _ = srv.Serve(l) }()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var opts *service.DialOptions
			if len(r.Protocols) > 0 {
				opts = &service.DialOptions{Subprotocols: []string{r.Protocols[0].Name}}
			}
			c, _, err := service.Dial(ctx, "ws://"+l.Addr().String()+"/fail/42", opts)
			if err != nil {
				t.Fatal(err)
			}
			remote := c.LocalAddr().String()
			if tt.peer {
				_ = c.Close(protocol.CloseNormal, "")
			} else if _, _, err := c.Recv(ctx); !errors.Is(err, service.ErrClosed) {
				t.Fatalf("Recv: %v, want the server's close", err)
			}
			// Shutdown waits for the handler to return and its failure
			// to be reported.
			if err := srv.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}

			var got []map[string]any
			for _, line := range strings.Split(logs.String(), "\n")[before-1:] {
				if line == "" {
					continue
				}
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				if rec["remote"] == remote {
					got = append(got, rec)
				}
			}
			var want []map[string]any
			if tt.want != nil {
				w := map[string]any{"remote": remote}
				for k, v := range tt.want {
					w[k] = v
				}
				want = append(want, w)
			}
			for _, rec := range got {
				delete(rec, "time")
				if s, ok := rec["stack"].(string); ok {
					if !tt.stack || !strings.Contains(s, "handler_test.go") {
						t.Errorf("stack attribute %q, want one naming handler_test.go", s)
					}
					delete(rec, "stack")
				} else if tt.stack {
					t.Error("the record has no stack")
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("records through slog.Default() (-want +got):\n%s", diff)
			}
			hookedMu.Lock()
			if n := len(hooked) - hookedBefore; n != tt.hooked {
				t.Errorf("OnError called %d times, want %d", n, tt.hooked)
			}
			hookedMu.Unlock()
			logged := strings.Contains(strings.TrimPrefix(mwLogs.String(), mwBefore), `"level":"ERROR"`)
			if logged != tt.mwLogs {
				t.Errorf("middleware.Log logged the failure: %v, want %v", logged, tt.mwLogs)
			}
		})
	}
}
