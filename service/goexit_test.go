package service

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/wsmap/wsmap/protocol"
)

// TestHandlerGoexit: a handler that ends its goroutine without returning
// (runtime.Goexit, as t.FailNow does) fails the connection as a panic
// would: the client sees 1011, OnError hears ErrHandlerExited, and the
// Server's Shutdown does not wait for the connection.
func TestHandlerGoexit(t *testing.T) {
	t.Parallel()
	reported := make(chan error, 1)
	e := &Endpoint{
		Options: &Options{OnError: func(_ *Conn, err error) { reported <- err }},
		Handler: HandlerFunc(func(ctx context.Context, c *Conn) error {
			runtime.Goexit()
			return nil
		}),
	}
	srv, addr := startServer(t, e)
	c := dial(t, "ws://"+addr+"/", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := c.Recv(ctx); err == nil {
		t.Fatal("Recv returned a message")
	} else if code, _ := CloseStatus(err); code != protocol.CloseInternalError {
		t.Errorf("the client's Recv: %v, want a close with 1011", err)
	}
	select {
	case err := <-reported:
		if !errors.Is(err, ErrHandlerExited) {
			t.Errorf("OnError heard %v, want ErrHandlerExited", err)
		}
	case <-ctx.Done():
		t.Fatal("OnError was not called")
	}
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v (after %v)", err, time.Since(start))
	}
}
