package service

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wsmap/wsmap/internal/wstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// serve starts an httptest server whose every request is served by e and
// returns its ws:// URL and host:port.
func serve(t *testing.T, e *Endpoint) (wsURL, addr string) {
	t.Helper()
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), srv.Listener.Addr().String()
}

// serveFunc serves h with options opts.
func serveFunc(t *testing.T, opts Options, h HandlerFunc) (wsURL, addr string) {
	t.Helper()
	return serve(t, &Endpoint{Handler: h, Options: &opts})
}

// startServer starts a Server on a loopback port and returns it with its
// address; the cleanup shuts it down.
func startServer(t *testing.T, h http.Handler) (*Server, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: h}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s, l.Addr().String()
}

// dial opens a client connection, closed at cleanup.
func dial(t *testing.T, url string, opts *DialOptions) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("Dial(%s): %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close(1000, "") })
	return c
}

// rawDial opens a raw client connection, closed at cleanup.
func rawDial(t *testing.T, addr string, headers ...string) *wstest.Conn {
	t.Helper()
	c, err := wstest.Dial(addr, "/", headers...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testCtx returns a context that ends with the test or after d.
func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// result carries a handler's observation back to the test.
type result struct {
	code   int
	reason string
	err    error
}

func waitResult(t *testing.T, ch <-chan result, d time.Duration) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(d):
		t.Fatalf("no result after %v", d)
		return result{}
	}
}
