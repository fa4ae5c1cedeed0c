// Package msgtest holds what the tests of the message level share:
// serving a Peer for the length of a test, and reading a frame with a
// bound.
package msgtest

import (
	"context"
	"testing"
	"time"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// Serve runs p.Serve until the test ends; the cleanup closes p's
// connection and waits for Serve to return.
func Serve(tb testing.TB, p *message.Peer) {
	tb.Helper()
	done := make(chan error, 1)
	go func() { done <- p.Serve(context.Background()) }()
	tb.Cleanup(func() {
		_ = p.Conn().Close(protocol.CloseNormal, "")
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			tb.Error("Serve did not return after the connection closed")
		}
	})
}

// Recv reads a frame from c as text, failing the test after 5 seconds.
func Recv(tb testing.TB, c *service.Conn) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, data, err := c.Recv(ctx)
	if err != nil {
		tb.Fatalf("recv: %v", err)
	}
	return string(data)
}
