// Package servetest serves WebSocket handlers on loopback, and dials
// them, for tests that talk to them through real sockets.
package servetest

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// Serve starts h on a service.Server listening on a free loopback port,
// shut down gracefully at the end of the test (a shutdown that does not
// finish within 20 seconds fails the test), and returns its ws:// base
// URL.
func Serve(tb testing.TB, h http.Handler) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &service.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
	})
	return "ws://" + l.Addr().String()
}

// Dial connects to url with opts (nil for the defaults), failing the test
// if it cannot within 10 seconds; the connection is closed at the end of
// the test.
func Dial(tb testing.TB, url string, opts *service.DialOptions) *service.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := service.Dial(ctx, url, opts)
	if err != nil {
		tb.Fatalf("Dial %s: %v", url, err)
	}
	tb.Cleanup(func() { _ = c.Close(protocol.CloseNormal, "") })
	return c
}
