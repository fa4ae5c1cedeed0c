package service

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wsmap/wsmap/protocol"
)

// blockSender sends 256 KiB messages to a peer that reads nothing until a
// Send fails, and reports that error and how long the failing Send took.
func blockSender(ctx context.Context, c *Conn) (time.Duration, error) {
	msg := make([]byte, 256<<10)
	for {
		start := time.Now()
		if err := c.Send(ctx, protocol.Binary, msg); err != nil {
			return time.Since(start), err
		}
	}
}

func TestSendReturnsWhenContextEnds(t *testing.T) {
	t.Parallel()
	type obs struct {
		err     error
		elapsed time.Duration
		state   State
	}
	out := make(chan obs, 1)
	_, addr := serveFunc(t, Options{WriteTimeout: time.Minute}, func(ctx context.Context, c *Conn) error {
		sctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(300*time.Millisecond, cancel)
		start := time.Now()
		_, err := blockSender(sctx, c)
		<-c.Done()
		out <- obs{err, time.Since(start), c.State()}
		return nil
	})
	_ = rawDial(t, addr) // never reads
	o := <-out
	if !errors.Is(o.err, context.Canceled) || !errors.Is(o.err, ErrClosed) {
		t.Errorf("Send error %v, want it to wrap context.Canceled and ErrClosed", o.err)
	}
	if o.elapsed > 3*time.Second {
		t.Errorf("Send returned %v after start, its context ended at 300ms", o.elapsed)
	}
	if o.state != StateClosed {
		t.Errorf("state %v after an interrupted write, want closed", o.state)
	}
}

func TestSendWithEndedContextLeavesConnectionOpen(t *testing.T) {
	t.Parallel()
	type obs struct {
		errs  []error
		state State
	}
	out := make(chan obs, 1)
	url, _ := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
		ended, cancel := context.WithCancel(ctx)
		cancel()
		var o obs
		for range 100 { // the lock is free each time: no chance involved
			o.errs = append(o.errs, c.Send(ended, protocol.Text, []byte("never")))
		}
		o.state = c.State()
		err := c.Send(ctx, protocol.Text, []byte("after"))
		out <- o
		return err
	})
	c := dial(t, url, nil)
	_, data, err := c.Recv(context.Background())
	if err != nil || string(data) != "after" {
		t.Fatalf("Recv = %q, %v; want the message sent after the refused ones", data, err)
	}
	o := <-out
	for i, err := range o.errs {
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrClosed) {
			t.Fatalf("Send %d with an ended context: %v, want context.Canceled and the connection open", i, err)
		}
	}
	if o.state != StateOpen {
		t.Errorf("state %v after sends with an ended context, want open", o.state)
	}
}

func TestWriteTimeoutEndsConnection(t *testing.T) {
	t.Parallel()
	const writeTimeout = 300 * time.Millisecond
	type obs struct {
		sendErr, otherErr error
		took              time.Duration
	}
	out := make(chan obs, 1)
	_, addr := serveFunc(t, Options{WriteTimeout: writeTimeout}, func(ctx context.Context, c *Conn) error {
		// A second sender queued behind the blocked one is released too.
		other := make(chan error, 1)
		go func() {
			time.Sleep(50 * time.Millisecond)
			other <- c.Send(context.Background(), protocol.Text, []byte("queued"))
		}()
		took, err := blockSender(context.Background(), c)
		out <- obs{err, <-other, took}
		return nil
	})
	_ = rawDial(t, addr) // never reads
	o := <-out
	if code, _ := CloseStatus(o.sendErr); !errors.Is(o.sendErr, ErrClosed) || code != 0 && code != protocol.CloseAbnormal {
		t.Errorf("blocked Send: %v, want a write error wrapping ErrClosed", o.sendErr)
	}
	if o.took > writeTimeout+2*time.Second {
		t.Errorf("blocked Send took %v, write timeout %v", o.took, writeTimeout)
	}
	if !errors.Is(o.otherErr, ErrClosed) {
		t.Errorf("queued Send: %v, want ErrClosed", o.otherErr)
	}
}

func TestHandlerContextEndsWhenPeerVanishes(t *testing.T) {
	t.Parallel()
	seen := make(chan result, 1)
	_, addr := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
		<-ctx.Done()
		code, _ := CloseStatus(context.Cause(ctx))
		seen <- result{code: int(code)}
		return nil
	})
	rc := rawDial(t, addr)
	time.Sleep(50 * time.Millisecond)
	rc.Close() // no close frame
	if r := waitResult(t, seen, 5*time.Second); r.code != int(protocol.CloseAbnormal) {
		t.Errorf("handler's context ended with %d, want 1006", r.code)
	}
}

func TestSendInvalidType(t *testing.T) {
	t.Parallel()
	errc := make(chan error, 2)
	url, _ := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
		errc <- c.Send(ctx, 9, nil)
		_, err := c.Writer(ctx, 0)
		errc <- err
		return nil
	})
	_ = dial(t, url, nil)
	for range 2 {
		if err := <-errc; err == nil {
			t.Error("invalid message type accepted")
		}
	}
}
