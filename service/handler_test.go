package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
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

// asError answers errors.As with target, as a foreign error type may
// stand for one of the package's.
type asError struct{ target error }

func (e asError) Error() string { return "as " + e.target.Error() }

func (e asError) As(v any) bool {
	switch t := e.target.(type) {
	case *service.PanicError:
		if p, ok := v.(**service.PanicError); ok {
			*p = t
			return true
		}
	case *service.MessageError:
		if p, ok := v.(**service.MessageError); ok {
			*p = t
			return true
		}
	}
	return false
}

// closedError matches ErrClosed through an Is method.
type closedError struct{}

func (closedError) Error() string        { return "closed elsewhere" }
func (closedError) Is(target error) bool { return target == service.ErrClosed }

// TestErrorsReported checks which errors a handler returns are given to
// Options.OnError: a panic, and any error that is not a close, nor the
// fallout of the connection having closed, nor a *MessageError, however
// it is wrapped or joined.
func TestErrorsReported(t *testing.T) {
	t.Parallel()
	panicErr := &service.PanicError{Value: "boom"}
	msgErr := &service.MessageError{Code: protocol.CloseUnsupportedData, Reason: "not JSON"}
	tests := []struct {
		name     string
		err      error
		reported bool
	}{
		{"plain", errors.New("boom"), true},
		{"ErrClosed", service.ErrClosed, false},
		{"wrapped ErrClosed", fmt.Errorf("send: %w", service.ErrClosed), false},
		{"close", &service.CloseError{Code: 4000, Reason: "bye"}, false},
		{"wrapped close", fmt.Errorf("recv: %w", &service.CloseError{Code: protocol.CloseNormal}), false},
		{"canceled", fmt.Errorf("wait: %w", context.Canceled), false},
		{"deadline", context.DeadlineExceeded, true},
		{"message error", msgErr, false},
		{"wrapped message error", fmt.Errorf("decode: %w", msgErr), false},
		{"panic", panicErr, true},
		{"wrapped panic", fmt.Errorf("recovered: %w", panicErr), true},
		{"panic joined with a close", errors.Join(service.ErrClosed, panicErr), true},
		{"error joined with a close", errors.Join(errors.New("boom"), service.ErrClosed), false},
		{"joined deep", fmt.Errorf("a: %w", errors.Join(errors.New("x"), fmt.Errorf("b: %w", msgErr))), false},
		{"matches ErrClosed", closedError{}, false},
		{"As a panic", asError{panicErr}, true},
		{"As a message error", asError{msgErr}, false},
		{"As nothing", asError{errors.New("boom")}, true},
	}
	// The client names its case by the subprotocol it offers, "case" and
	// its index.
	var protocols []string
	for i := range tests {
		protocols = append(protocols, fmt.Sprintf("case%d", i))
	}
	var mu sync.Mutex
	var reported []string
	onError := func(c *service.Conn, err error) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, c.Subprotocol())
	}
	h := service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		var i int
		if _, err := fmt.Sscanf(c.Subprotocol(), "case%d", &i); err != nil {
			return nil
		}
		return tests[i].err
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &service.Server{Handler: &service.Endpoint{Handler: h, Protocols: protocols, Options: &service.Options{OnError: onError}}}
	go func() { _ = srv.Serve(l) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var want []string
	for i, tt := range tests {
		if tt.reported {
			want = append(want, protocols[i])
		}
		c, _, err := service.Dial(ctx, "ws://"+l.Addr().String()+"/", &service.DialOptions{Subprotocols: []string{protocols[i]}})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if _, _, err := c.Recv(ctx); !errors.Is(err, service.ErrClosed) {
			t.Errorf("%s: Recv: %v, want the server's close", tt.name, err)
		}
	}
	// Shutdown waits for every handler to return and its error to be
	// reported.
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(reported)
	slices.Sort(want)
	if diff := cmp.Diff(want, reported); diff != "" {
		for i, p := range protocols {
			t.Logf("%s: %s", p, tests[i].name)
		}
		t.Errorf("cases reported to OnError (-want +got):\n%s", diff)
	}
}

// BenchmarkHandshake measures a connection's life as the handshake load
// of internal/perf/compare sees it: a client opens a connection offering
// the subprotocol "echo", sends a close frame at once, and reads until
// the server has closed the TCP connection; the server's handler waits in
// RecvInto, as an echo server's does. The client writes its request and
// frame by hand, with reused buffers, so nearly all the allocations are
// the server's. The server is an Endpoint, or a mux of one route with the
// subprotocol and a handler for no subprotocol.
//
//	go test -run XXX -bench Handshake -benchmem -count 6 ./service
func BenchmarkHandshake(b *testing.B) {
	echo := echoInto
	servers := []struct {
		name string
		h    http.Handler
	}{
		{"endpoint", &service.Endpoint{Protocols: []string{"echo"}, Handler: echo}},
		{"mux", mux.MustNew(mux.Route{Pattern: "/echo", Protocols: []mux.Protocol{{Name: "echo", Handler: echo}}, NoProtocol: echo})},
	}
	for _, s := range servers {
		b.Run(s.name, func(b *testing.B) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := &service.Server{Handler: s.h}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(l) }()
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := srv.Shutdown(ctx); err != nil {
					b.Error(err)
				}
				<-served
			}()
			addr := l.Addr().String()
			req := []byte("GET /echo HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: echo\r\n\r\n")
			// A masked close frame with code 1000, the masking key zero.
			closeFrame := []byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8}
			buf := make([]byte, 512)
			b.ReportAllocs()
			for b.Loop() {
				if err := handshakeOnce(addr, req, closeFrame, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// handshakeOnce opens a connection with req, reads the 101 response,
// sends closeFrame and reads until the server closes the connection.
func handshakeOnce(addr string, req, closeFrame, buf []byte) error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(req); err != nil {
		return err
	}
	n := 0
	for !bytes.Contains(buf[:n], []byte("\r\n\r\n")) {
		if n == len(buf) {
			return errors.New("response too long")
		}
		m, err := nc.Read(buf[n:])
		if err != nil {
			return fmt.Errorf("reading the response: %w", err)
		}
		n += m
	}
	if !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 101 ")) {
		return fmt.Errorf("response %q, want 101", buf[:n])
	}
	if _, err := nc.Write(closeFrame); err != nil {
		return err
	}
	for {
		if _, err := nc.Read(buf); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading until the server closes: %w", err)
		}
	}
}
