package service

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsmap/wsmap/protocol"
)

func TestShutdownClosesEveryConnection(t *testing.T) {
	t.Parallel()
	const n = 200
	var running, returned atomic.Int32
	causes := make(chan protocol.CloseCode, n)
	s, addr := startServer(t, &Endpoint{Handler: HandlerFunc(func(ctx context.Context, c *Conn) error {
		running.Add(1)
		defer returned.Add(1)
		for {
			typ, data, err := c.Recv(ctx)
			if err != nil {
				code, _ := CloseStatus(context.Cause(ctx))
				causes <- code
				return err
			}
			if err := c.Send(ctx, typ, data); err != nil {
				return err
			}
		}
	})})
	conns := make([]*Conn, n)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			conns[i] = dial(t, "ws://"+addr+"/", nil)
			ctx := testCtx(t, 10*time.Second)
			if err := conns[i].Send(ctx, protocol.Text, []byte("hi")); err != nil {
				t.Error(err)
			}
			if _, _, err := conns[i].Recv(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := s.Len(); got != n {
		t.Fatalf("server tracks %d connections, want %d", got, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	t.Logf("Shutdown of %d connections took %v", n, time.Since(start))
	if r := returned.Load(); r != n {
		t.Errorf("%d of %d handlers returned before Shutdown did", r, n)
	}
	if s.Len() != 0 {
		t.Errorf("server still tracks %d connections", s.Len())
	}
	for i, c := range conns {
		_, _, err := c.Recv(context.Background())
		if code, reason := CloseStatus(err); code != protocol.CloseGoingAway || reason != "server shutting down" {
			t.Errorf("client %d: %v, want 1001", i, err)
		}
	}
	close(causes)
	for code := range causes {
		if code != protocol.CloseGoingAway {
			t.Errorf("handler context cause %v, want 1001", code)
		}
	}
}

func TestShutdownReportsStuckHandlers(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{})
	s, addr := startServer(t, &Endpoint{Handler: HandlerFunc(func(ctx context.Context, c *Conn) error {
		close(started)
		<-release // ignores its context
		return nil
	})})
	defer close(release)
	c := dial(t, "ws://"+addr+"/", nil)
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 WebSocket handlers still running") {
		t.Errorf("Shutdown: %v, want deadline exceeded naming 1 handler", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v with a 300ms context", d)
	}
	_, _, err = c.Recv(context.Background())
	if code, _ := CloseStatus(err); code != protocol.CloseGoingAway {
		t.Errorf("client saw %v, want 1001", err)
	}
}

func TestShutdownRefusesNewHandshakes(t *testing.T) {
	t.Parallel()
	s, addr := startServer(t, &Endpoint{Handler: HandlerFunc(func(ctx context.Context, c *Conn) error { return nil })})
	// Keep an HTTP connection open across the shutdown.
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	s.init()
	s.reg.shutdown()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	req.Header = http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "shutting down") {
		t.Errorf("handshake during shutdown: %s %q %q", resp.Status, resp.Header.Get("Retry-After"), body)
	}
}

func TestServeUntil(t *testing.T) {
	t.Parallel()
	t.Run("context ends", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := &Server{Handler: &Endpoint{Handler: HandlerFunc(func(ctx context.Context, c *Conn) error {
			_, _, err := c.Recv(ctx)
			return err
		})}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.ServeUntil(ctx, l, 5*time.Second) }()
		c := dial(t, "ws://"+l.Addr().String()+"/", nil)
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ServeUntil: %v, want nil after a clean shutdown", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("ServeUntil did not return after its context ended")
		}
		_, _, err = c.Recv(context.Background())
		if code, _ := CloseStatus(err); code != protocol.CloseGoingAway {
			t.Errorf("client saw %v, want 1001", err)
		}
	})
	t.Run("serve fails", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		s := &Server{Handler: http.NotFoundHandler()}
		err = s.ServeUntil(context.Background(), l, time.Second)
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("ServeUntil on a closed listener: %v, want net.ErrClosed", err)
		}
	})
}

// hijackHook runs before on Hijack, between a handshake's admission and
// its connection's registration.
type hijackHook struct {
	http.ResponseWriter
	before func()
}

func (h hijackHook) Unwrap() http.ResponseWriter { return h.ResponseWriter }

func (h hijackHook) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h.before()
	return http.NewResponseController(h.ResponseWriter).Hijack()
}

// TestShutdownDuringUpgrade: a connection admitted before Shutdown
// began and registered after is closed with 1001, once, and its handler
// runs and returns. The close used to race the connection's start, and
// two read loops could then end the same connection.
func TestShutdownDuringUpgrade(t *testing.T) {
	t.Parallel()
	for i := range 30 {
		served := make(chan error, 1)
		e := &Endpoint{Handler: HandlerFunc(func(ctx context.Context, c *Conn) error {
			_, _, err := c.Recv(ctx)
			served <- err
			return err
		})}
		s, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			e.ServeHTTP(hijackHook{w, func() { registryFrom(r.Context()).shutdown() }}, r)
		}))
		c, _, err := Dial(testCtx(t, 5*time.Second), "ws://"+addr+"/", nil)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		_, _, err = c.Recv(testCtx(t, 5*time.Second))
		if code, _ := CloseStatus(err); code != protocol.CloseGoingAway {
			t.Fatalf("round %d: client saw %v, want 1001", i, err)
		}
		select {
		case err := <-served:
			if code, _ := CloseStatus(err); code != protocol.CloseGoingAway {
				t.Fatalf("round %d: handler's Recv returned %v, want the 1001 close", i, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: handler did not return", i)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.Shutdown(ctx); err != nil {
			t.Fatalf("round %d: Shutdown: %v", i, err)
		}
		cancel()
	}
}

// TestServerWithoutHandler checks that a Server without a Handler fails
// at once instead of serving net/http's DefaultServeMux.
func TestServerWithoutHandler(t *testing.T) {
	t.Parallel()
	const want = "service: Server.Handler is nil: set it to the mux, Endpoint or other http.Handler to serve"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tests := []struct {
		name  string
		serve func(s *Server) error
	}{
		{"Serve", func(s *Server) error { return s.Serve(l) }},
		{"ListenAndServe", func(s *Server) error { return s.ListenAndServe() }},
		{"ServeUntil", func(s *Server) error { return s.ServeUntil(context.Background(), l, time.Second) }},
		{"ListenAndServe", func(*Server) error { return ListenAndServe("127.0.0.1:0", nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Server{Addr: "127.0.0.1:0"}
			if err := tt.serve(s); err == nil || err.Error() != want {
				t.Errorf("error %v, want %q", err, want)
			}
		})
	}
	// The listener is left open for the caller.
	go func() {
		if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
			c.Close()
		}
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("listener closed: %v", err)
	}
	c.Close()
}

// TestEndpointWithoutHandler checks that an Endpoint without a Handler
// panics with a message saying so (net/http recovers and logs it),
// instead of upgrading connections that all fail with 1011.
func TestEndpointWithoutHandler(t *testing.T) {
	t.Parallel()
	defer func() {
		if r := recover(); r != "service: Endpoint.Handler is nil" {
			t.Errorf("panicked with %v, want service: Endpoint.Handler is nil", r)
		}
	}()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	(&Endpoint{}).ServeHTTP(httptest.NewRecorder(), r)
}
