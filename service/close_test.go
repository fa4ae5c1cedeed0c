package service

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
)

func TestHandlerReturnClosesConnection(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name       string
		handler    HandlerFunc
		wantCode   protocol.CloseCode
		wantReason string
		wantReport string // what OnError sees, "" for nothing
	}{
		{"nil", func(context.Context, *Conn) error { return nil }, 1000, "", ""},
		{"close error", func(context.Context, *Conn) error { return &CloseError{Code: 4000, Reason: "custom"} }, 4000, "custom", ""},
		{"wrapped close error", func(context.Context, *Conn) error {
			return errors.Join(errors.New("context"), &CloseError{Code: 1008, Reason: "policy"})
		}, 1008, "policy", ""},
		{"unsendable close code", func(context.Context, *Conn) error { return &CloseError{Code: 1006} }, 1011, "internal error", ""},
		{"other error", func(context.Context, *Conn) error { return boom }, 1011, "internal error", "boom"},
		{"panic", func(context.Context, *Conn) error { panic("kaboom") }, 1011, "internal error", "service: handler panic: kaboom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reports := make(chan error, 1)
			url, _ := serve(t, &Endpoint{Handler: tt.handler, Options: &Options{OnError: func(_ *Conn, err error) { reports <- err }}})
			c := dial(t, url, nil)
			_, _, err := c.Recv(testCtx(t, 5*time.Second))
			code, reason := CloseStatus(err)
			if code != tt.wantCode || reason != tt.wantReason {
				t.Errorf("client saw close %v %q (err %v), want %v %q", code, reason, err, tt.wantCode, tt.wantReason)
			}
			var report string
			select {
			case err := <-reports:
				report = err.Error()
				var pe *PanicError
				if errors.As(err, &pe) && len(pe.Stack) == 0 {
					t.Error("PanicError has no stack")
				}
			case <-time.After(200 * time.Millisecond):
			}
			if report != tt.wantReport {
				t.Errorf("OnError got %q, want %q", report, tt.wantReport)
			}
		})
	}
}

func TestPeerCloseIsEchoed(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		code     int
		reason   string
		wantEcho int
	}{
		{"normal", 1000, "bye", 1000},
		{"going away", 1001, "", 1001},
		{"private", 4002, "x", 4002},
		{"no status", 0, "", 1005},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			seen := make(chan result, 1)
			_, addr := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
				_, _, err := c.Recv(ctx)
				code, reason := CloseStatus(err)
				seen <- result{code: int(code), reason: reason, err: err}
				return err
			})
			testPeerCloseEcho(t, addr, seen, tt.code, tt.reason, tt.wantEcho)
		})
	}
}

// TestPeerCloseEchoWinsOverHandlerReturn checks that a handler returning
// as soon as its context ends does not change the echo of the peer's
// close: a close without status is answered with an empty close frame,
// never with the 1011 that returning an unsendable 1005 would give.
func TestPeerCloseEchoWinsOverHandlerReturn(t *testing.T) {
	t.Parallel()
	const rounds, parallel = 200, 40
	_, addr := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
		<-ctx.Done()
		return context.Cause(ctx)
	})
	// The handler's return races with the echo; repeat, many at a time,
	// so that a wrong winner shows.
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for range rounds {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			rc, err := wstest.Dial(addr, "/")
			if err != nil {
				t.Error(err)
				return
			}
			defer rc.Close()
			if err := rc.WriteMessage(wstest.OpClose, nil); err != nil {
				t.Error(err)
				return
			}
			f, err := rc.ExpectClose(5 * time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			if len(f.Payload) != 0 {
				t.Errorf("close without status answered with %d %q, want an empty close frame", f.CloseCode(), f.CloseReason())
			}
		})
	}
	wg.Wait()
}

// testPeerCloseEcho sends a close frame with code (0: no status) and
// reason, and checks the echo and what the handler saw.
func testPeerCloseEcho(t *testing.T, addr string, seen chan result, code int, reason string, wantEcho int) {
	t.Helper()
	rc := rawDial(t, addr)
	var err error
	if code == 0 {
		err = rc.WriteMessage(wstest.OpClose, nil)
	} else {
		err = rc.WriteClose(code, reason)
	}
	if err != nil {
		t.Fatal(err)
	}
	f, err := rc.ExpectClose(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if f.CloseCode() != wantEcho {
		t.Errorf("echoed close code %d, want %d", f.CloseCode(), wantEcho)
	}
	if err := rc.ExpectEOF(5 * time.Second); err != nil {
		t.Error(err)
	}
	r := waitResult(t, seen, 5*time.Second)
	wantCode := code
	if code == 0 {
		wantCode = 1005
	}
	if r.code != wantCode || r.reason != reason {
		t.Errorf("handler saw %d %q (%v), want %d %q", r.code, r.reason, r.err, wantCode, reason)
	}
	if !errors.Is(r.err, ErrClosed) {
		t.Errorf("Recv error %v does not match ErrClosed", r.err)
	}
}

func TestCloseIdempotentAgainstSilentPeer(t *testing.T) {
	t.Parallel()
	const closeTimeout = 300 * time.Millisecond
	type obs struct {
		elapsed   time.Duration
		errs      []error
		recvErr   error
		recvTook  time.Duration
		state     State
		stateLate State
	}
	out := make(chan obs, 1)
	_, addr := serveFunc(t, Options{CloseTimeout: closeTimeout}, func(ctx context.Context, c *Conn) error {
		var o obs
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Go(func() { errs[i] = c.Close(protocol.CloseNormal, "done") })
		}
		wg.Wait()
		o.elapsed = time.Since(start)
		o.errs = errs
		o.state = c.State()
		start = time.Now()
		_, _, o.recvErr = c.Recv(context.Background())
		o.recvTook = time.Since(start)
		o.stateLate = c.State()
		out <- o
		return nil
	})
	rc := rawDial(t, addr) // never reads, never answers
	o := <-out
	if o.elapsed > 2*closeTimeout+500*time.Millisecond {
		t.Errorf("Close took %v against a silent peer, close timeout %v", o.elapsed, closeTimeout)
	}
	if diff := cmp.Diff([]error{nil, nil, nil}, o.errs, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
		t.Errorf("Close errors (-want +got):\n%s", diff)
	}
	if o.state != StateClosed || o.stateLate != StateClosed {
		t.Errorf("state after Close = %v, %v; want closed", o.state, o.stateLate)
	}
	if o.recvTook > 100*time.Millisecond {
		t.Errorf("Recv after Close took %v", o.recvTook)
	}
	if code, _ := CloseStatus(o.recvErr); code != protocol.CloseAbnormal {
		t.Errorf("Recv after an unanswered Close: %v, want close 1006", o.recvErr)
	}
	// The silent peer still got exactly one close frame.
	f, err := rc.ExpectClose(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if f.CloseCode() != 1000 || f.CloseReason() != "done" {
		t.Errorf("close frame %d %q, want 1000 done", f.CloseCode(), f.CloseReason())
	}
	if err := rc.ExpectEOF(2 * time.Second); err != nil {
		t.Error(err)
	}
}

func TestCloseArguments(t *testing.T) {
	t.Parallel()
	done := make(chan []error, 1)
	url, _ := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
		done <- []error{
			c.Close(protocol.CloseAbnormal, ""),
			c.Close(protocol.CloseNoStatus, ""),
			c.Close(999, ""),
			c.Close(protocol.CloseNormal, "\xff"),
		}
		long := ""
		for len(long) < 200 {
			long += "é"
		}
		return c.Close(4000, long)
	})
	c := dial(t, url, nil)
	_, _, err := c.Recv(testCtx(t, 5*time.Second))
	for i, e := range <-done {
		if e == nil {
			t.Errorf("invalid Close #%d returned nil", i)
		}
	}
	code, reason := CloseStatus(err)
	if code != 4000 || len(reason) > protocol.MaxCloseReason || len(reason) < protocol.MaxCloseReason-1 {
		t.Errorf("close %v with %d-byte reason, want 4000 with a reason cut to %d bytes", code, len(reason), protocol.MaxCloseReason)
	}
}

// TestClosedBy checks which end each way of closing names as the one that
// began it, on the server's Conn.
func TestClosedBy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler HandlerFunc
		peer    func(rc *wstest.Conn) error
		want    Initiator
	}{
		{"peer closes", func(ctx context.Context, c *Conn) error {
			_, _, err := c.Recv(ctx)
			return err
		}, func(rc *wstest.Conn) error {
			if err := rc.WriteClose(1000, "bye"); err != nil {
				return err
			}
			_, err := rc.ExpectClose(5 * time.Second)
			return err
		}, InitiatorPeer},
		{"handler returns", func(context.Context, *Conn) error {
			return &CloseError{Code: 4000}
		}, func(rc *wstest.Conn) error {
			f, err := rc.ExpectClose(5 * time.Second)
			if err != nil {
				return err
			}
			return rc.WriteClose(f.CloseCode(), "")
		}, InitiatorLocal},
		{"violation", func(ctx context.Context, c *Conn) error {
			_, _, err := c.Recv(ctx)
			return err
		}, func(rc *wstest.Conn) error {
			if err := rc.WriteMessage(wstest.OpText, []byte{0xff}); err != nil {
				return err
			}
			_, err := rc.ExpectClose(5 * time.Second)
			return err
		}, InitiatorLocal},
		{"dropped", func(ctx context.Context, c *Conn) error {
			_, _, err := c.Recv(ctx)
			return err
		}, func(rc *wstest.Conn) error { return rc.Close() }, InitiatorNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan [2]Initiator, 1)
			_, addr := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
				open := c.ClosedBy()
				err := tt.handler(ctx, c)
				c.CloseWithError(err)
				got <- [2]Initiator{open, c.ClosedBy()}
				return err
			})
			rc := rawDial(t, addr)
			if err := tt.peer(rc); err != nil {
				t.Fatal(err)
			}
			select {
			case g := <-got:
				if g != [2]Initiator{InitiatorNone, tt.want} {
					t.Errorf("ClosedBy open, closed = %v, %v; want none, %v", g[0], g[1], tt.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the handler did not return")
			}
		})
	}
}
