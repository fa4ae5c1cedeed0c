package service

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/protocol"
)

// TestRedialBackoff: the waits double from MinBackoff up to MaxBackoff,
// each drawn between half of it and all of it, and a 503's Retry-After
// is waited at least.
func TestRedialBackoff(t *testing.T) {
	t.Parallel()
	r := &Redialer{opts: RedialOptions{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}}
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 40: time.Second} {
		for range 50 {
			if d := r.backoff(attempt, nil); d < want/2 || d > want {
				t.Fatalf("attempt %d: waits %v, want %v to %v", attempt, d, want/2, want)
			}
		}
	}
	busy := &HandshakeError{Status: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"7"}}}
	if d := r.backoff(1, fmt.Errorf("dial: %w", busy)); d != 7*time.Second {
		t.Errorf("after a 503 with Retry-After: 7, waits %v", d)
	}
	tooMany := &HandshakeError{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"100000"}}}
	if d := r.backoff(1, tooMany); d != maxRetryAfter {
		t.Errorf("after a 429 with a huge Retry-After, waits %v, want the bound %v", d, maxRetryAfter)
	}
	other := &HandshakeError{Status: http.StatusBadGateway, Header: http.Header{"Retry-After": {"7"}}}
	if d := r.backoff(1, other); d > 100*time.Millisecond {
		t.Errorf("after a 502, Retry-After is not for it: waits %v", d)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	type result struct {
		D  time.Duration
		OK bool
	}
	tests := map[string]result{
		"":                              {0, false},
		"0":                             {0, true},
		"120":                           {2 * time.Minute, true},
		"-1":                            {0, false},
		"1.5":                           {0, false},
		"soon":                          {0, false},
		"Thu, 03 Dec 2026 12:00:30 GMT": {30 * time.Second, true},
		"Thu, 03 Dec 2026 11:00:00 GMT": {0, true},
	}
	for in, want := range tests {
		d, ok := retryAfter(in, now)
		if diff := cmp.Diff(want, result{d, ok}); diff != "" {
			t.Errorf("retryAfter(%q) (-want +got):\n%s", in, diff)
		}
	}
}

// TestRedialInterrupted: Close, and the end of Redial's ctx, stop the
// Redialer in each phase an action waits in, on real sockets: waiting
// for the response to a handshake the server never answers (with a
// handshake timeout of a minute), in BeforeDial and OnConnect (which wait for their ctx), in a
// minute's backoff, while waiting for Recv to be done with the last
// connection, and with a connection up, which Close closes with 1000 and
// the end of ctx with 1001.
func TestRedialInterrupted(t *testing.T) {
	t.Parallel()
	// holding serves each connection until the client closes it, and
	// tells with what.
	holding := func(t *testing.T, closed chan<- protocol.CloseCode) string {
		return startKillable(t, &Endpoint{Handler: HandlerFunc(func(ctx context.Context, c *Conn) error {
			_, _, err := c.Recv(ctx)
			var ce *CloseError
			if errors.As(err, &ce) {
				closed <- ce.Code
			}
			return err
		})}).url()
	}
	// mute reads each handshake's request, tells, and never answers.
	mute := func(t *testing.T, requested chan<- struct{}) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var conns []net.Conn
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				conns = append(conns, c)
				if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					requested <- struct{}{}
				}
			}
		}()
		t.Cleanup(func() {
			_ = l.Close()
			<-done
			for _, c := range conns {
				_ = c.Close()
			}
		})
		return "ws://" + l.Addr().String() + "/"
	}
	// nobody is an address where nothing listens.
	nobody := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_ = l.Close()
		return "ws://" + l.Addr().String() + "/"
	}
	// restarting sends each connection two messages, then closes with 1012.
	restarting := func(t *testing.T) string {
		return startKillable(t, &Endpoint{Handler: HandlerFunc(func(ctx context.Context, c *Conn) error {
			for _, m := range []string{"1", "2"} {
				if err := c.Send(ctx, protocol.Text, []byte(m)); err != nil {
					return err
				}
			}
			return &CloseError{Code: protocol.CloseServiceRestart}
		})}).url()
	}
	blockOnCtx := func(ctx context.Context, entered chan<- struct{}) error {
		entered <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}
	// env is what a case sets up and waits on.
	type env struct {
		closed  chan protocol.CloseCode // the codes the holding server saw
		entered chan struct{}           // a hook, or the mute server, was reached
		log     *stateLog
		opts    *RedialOptions
	}
	inPhase := func(t *testing.T, r *Redialer, want redialPhase) {
		t.Helper()
		for i := 0; ; i++ {
			r.mu.Lock()
			p := r.m.phase
			r.mu.Unlock()
			if p == want {
				return
			}
			if i == 1000 {
				t.Fatalf("in %v after 10s, want %v", p, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, e *env) string // returns the URL
		ready func(t *testing.T, e *env, r *Redialer)
		// The close code the client sends on Close, and on the end of
		// ctx, if a connection is up.
		onClose, onCtx protocol.CloseCode
	}{
		{name: "in the handshake",
			setup: func(t *testing.T, e *env) string { return mute(t, e.entered) },
			ready: func(t *testing.T, e *env, _ *Redialer) { waitSignal(t, e.entered) },
		},
		{name: "in BeforeDial",
			setup: func(t *testing.T, e *env) string {
				e.opts.BeforeDial = func(ctx context.Context, _ *url.URL, _ http.Header) error { return blockOnCtx(ctx, e.entered) }
				return holding(t, e.closed)
			},
			ready: func(t *testing.T, e *env, _ *Redialer) { waitSignal(t, e.entered) },
		},
		{name: "in OnConnect",
			setup: func(t *testing.T, e *env) string {
				e.opts.OnConnect = func(ctx context.Context, _ *Conn) error { return blockOnCtx(ctx, e.entered) }
				return holding(t, e.closed)
			},
			ready: func(t *testing.T, e *env, _ *Redialer) { waitSignal(t, e.entered) },
		},
		{name: "in the backoff",
			setup: func(t *testing.T, e *env) string {
				e.opts.MinBackoff = time.Minute
				return nobody(t)
			},
			ready: func(t *testing.T, e *env, _ *Redialer) { e.log.waitFor(t, RedialWaiting) },
		},
		{name: "waiting for Recv",
			setup: func(t *testing.T, e *env) string {
				e.opts.BeforeDial = func(context.Context, *url.URL, http.Header) error { return nil }
				return restarting(t)
			},
			ready: func(t *testing.T, e *env, r *Redialer) {
				if _, _, err := r.Recv(testCtx(t, 10*time.Second)); err != nil {
					t.Fatal(err)
				}
				// The connection ends with a message unread.
				inPhase(t, r, phaseDraining)
			},
		},
		{name: "connected",
			setup:   func(t *testing.T, e *env) string { return holding(t, e.closed) },
			ready:   func(t *testing.T, e *env, _ *Redialer) { e.log.waitFor(t, RedialConnected) },
			onClose: protocol.CloseNormal,
			onCtx:   protocol.CloseGoingAway,
		},
	}
	for _, tt := range tests {
		for _, byClose := range []bool{true, false} {
			name := tt.name + " by the end of ctx"
			if byClose {
				name = tt.name + " by Close"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				e := &env{closed: make(chan protocol.CloseCode, 10), entered: make(chan struct{}, 10), log: newStateLog()}
				e.opts = fastRedial(e.log)
				e.opts.Dial = &DialOptions{Options: &Options{HandshakeTimeout: time.Minute}}
				u := tt.setup(t, e)
				ctx, cancel := context.WithCancel(testCtx(t, 30*time.Second))
				defer cancel()
				r := Redial(ctx, u, e.opts)
				defer r.Close()
				tt.ready(t, e, r)

				closeErr := make(chan error, 1)
				wantErr, wantCode := error(ErrClosed), tt.onClose
				if byClose {
					go func() { closeErr <- r.Close() }()
				} else {
					wantErr, wantCode = context.Canceled, tt.onCtx
					cancel()
				}
				select {
				case <-r.Done():
				case <-time.After(10 * time.Second):
					t.Fatal("still running 10s later")
				}
				if !byClose {
					closeErr <- r.Close()
				}
				if err := <-closeErr; byClose && err != nil || !byClose && !errors.Is(err, ErrClosed) {
					t.Errorf("Close = %v", err)
				}
				if !errors.Is(r.Err(), wantErr) || r.State() != RedialStopped || r.Conn() != nil {
					t.Errorf("stopped with %v, in %v with %p; want %v", r.Err(), r.State(), r.Conn(), wantErr)
				}
				e.log.mu.Lock()
				last := e.log.events[len(e.log.events)-1]
				e.log.mu.Unlock()
				if last.State != RedialStopped || last.Err != r.Err() {
					t.Errorf("reported %+v last", last)
				}
				if wantCode != 0 {
					select {
					case code := <-e.closed:
						if code != wantCode {
							t.Errorf("the server saw %v, want %v", code, wantCode)
						}
					case <-time.After(10 * time.Second):
						t.Errorf("the server saw no close within 10s")
					}
				}
			})
		}
	}
}

// waitSignal waits up to 10s for ch.
func waitSignal(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("not reached within 10s")
	}
}
