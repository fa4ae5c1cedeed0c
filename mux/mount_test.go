package mux

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
	"github.com/wsmap/wsmap/wsmaptest"
)

// paramsHandler replies with the path it matched on and the path values
// it can read, from the mux's captures and from chi.
func paramsHandler() service.Handler {
	return service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		r := c.Request()
		return c.Send(ctx, protocol.Text, []byte(strings.Join([]string{
			"path=" + r.URL.Path,
			"tenant=" + c.Param("tenant"),
			"chi-tenant=" + chi.URLParam(r, "tenant"),
			"room=" + c.Param("room"),
			"pattern=" + r.Pattern,
			"rid=" + middleware.GetReqID(ctx),
		}, " ")))

	})
}

// dialText connects to path on srv and returns the first message.
func dialText(t *testing.T, srv *wsmaptest.Server, path string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := srv.Dial(ctx, path, nil)
	if err != nil {
		t.Fatalf("Dial %s: %v", path, err)
	}
	_, msg, err := c.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return string(msg)
}

func TestMountedInChi(t *testing.T) {
	t.Parallel()
	m := &Mux{}
	m.Handle(`/rooms/(?P<room>[a-z]+)`, paramsHandler())
	m.Handle(`/echo`, paramsHandler())

	var seenByMiddleware atomic.Int32
	r := chi.NewRouter()
	// chi middleware in front; Compress wraps the ResponseWriter.
	r.Use(middleware.RequestID, middleware.Recoverer, middleware.Compress(5))
	r.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seenByMiddleware.Add(1)
			next.ServeHTTP(w, r)
		})
	})
	r.Get("/api/health", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	r.Mount("/ws", m)
	r.With(middleware.RequestLogger(&middleware.DefaultLogFormatter{Logger: log.New(io.Discard, "", 0)})).Mount("/t/{tenant}/ws", m)
	srv := wsmaptest.NewServer(t, r)

	for _, tt := range []struct{ path, want string }{
		{"/ws/echo", "path=/ws/echo tenant= chi-tenant= room= pattern=/ws/echo rid="},
		{"/ws/rooms/lobby", "path=/ws/rooms/lobby tenant= chi-tenant= room=lobby pattern=/ws/rooms/(?P<room>[a-z]+) rid="},
		{"/t/acme/ws/rooms/lobby", "path=/t/acme/ws/rooms/lobby tenant=acme chi-tenant=acme room=lobby pattern=/t/{tenant}/ws/rooms/(?P<room>[a-z]+) rid="},
		{"/ws/rooms/l%6Fbby", "path=/ws/rooms/lobby tenant= chi-tenant= room=lobby pattern=/ws/rooms/(?P<room>[a-z]+) rid="},
	} {
		got := dialText(t, srv, tt.path)
		// The request ID differs each time: check it is there, then drop it.
		i := strings.LastIndex(got, "rid=")
		if i < 0 || len(got) == i+len("rid=") {
			t.Errorf("%s: no request ID from chi's middleware in %q", tt.path, got)
		} else {
			got = got[:i+len("rid=")]
		}
		if got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.path, got, tt.want)
		}
	}
	if seenByMiddleware.Load() != 4 {
		t.Errorf("chi middleware saw %d handshakes, want 4", seenByMiddleware.Load())
	}
	// Matching is relative to the mount point.
	if got := wsmaptest.Probe(r, wsmaptest.UpgradeRequest("/ws/ws/echo")); got.Status != http.StatusNotFound {
		t.Errorf("/ws/ws/echo: %d %q, want 404", got.Status, got.Reason)
	}
	if got := wsmaptest.Probe(r, httptest.NewRequest(http.MethodGet, "/ws/echo", nil)); got.Status != http.StatusUpgradeRequired {
		t.Errorf("plain GET /ws/echo: %d %q, want 426", got.Status, got.Reason)
	}
}

func TestMountedInNetHTTP(t *testing.T) {
	t.Parallel()
	m := &Mux{}
	m.Handle(`/rooms/(?P<room>[a-z]+)`, paramsHandler())
	sm := http.NewServeMux()
	sm.Handle("/ws/", http.StripPrefix("/ws", m))
	sm.Handle("/t/{tenant}/", http.StripPrefix("/t/acme", m))
	srv := wsmaptest.NewServer(t, sm)
	if got, want := dialText(t, srv, "/ws/rooms/lobby"), "path=/rooms/lobby tenant= chi-tenant= room=lobby pattern=/rooms/(?P<room>[a-z]+) rid="; got != want {
		t.Errorf("StripPrefix: got %q, want %q", got, want)
	}
	if got, want := dialText(t, srv, "/t/acme/rooms/hall"), "path=/rooms/hall tenant=acme chi-tenant= room=hall pattern=/rooms/(?P<room>[a-z]+) rid="; got != want {
		t.Errorf("ServeMux pattern: got %q, want %q", got, want)
	}
}

// TestChiTimeoutInFront: chi's Timeout in front of a mounted mux neither
// ends the connection nor writes onto it when its duration passes,
// because the mux returns from ServeHTTP at the upgrade.
func TestChiTimeoutInFront(t *testing.T) {
	t.Parallel()
	m := &Mux{}
	m.Handle(`/late`, service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		select {
		case <-time.After(300 * time.Millisecond): // past the timeout below
		case <-ctx.Done():
			return ctx.Err()
		}
		return c.Send(ctx, protocol.Text, []byte("after the timeout"))
	}))
	r := chi.NewRouter()
	r.Use(middleware.Timeout(50 * time.Millisecond))
	r.Mount("/ws", m)
	srv := wsmaptest.NewServer(t, r)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := srv.Dial(ctx, "/ws/late", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, msg, err := c.Recv(ctx)
	if err != nil || string(msg) != "after the timeout" {
		t.Fatalf("Recv: %q, %v", msg, err)
	}
	_, _, err = c.Recv(ctx)
	if code, _ := service.CloseStatus(err); code != 1000 {
		t.Fatalf("end: %v, want 1000", err)
	}
}
