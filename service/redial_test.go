package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/protocol"
)

// killable is a server on loopback that can be killed: kill closes its
// listener and every connection at once, with no close frame, as the
// end of a killed process does; start serves again on the same address.
type killable struct {
	t    *testing.T
	addr string
	h    http.Handler

	mu    sync.Mutex
	srv   *http.Server
	conns map[net.Conn]struct{}
}

func startKillable(t *testing.T, h http.Handler) *killable {
	k := &killable{t: t, addr: "127.0.0.1:0", h: h}
	k.start()
	t.Cleanup(k.kill)
	return k
}

func (k *killable) start() {
	k.t.Helper()
	l, err := net.Listen("tcp", k.addr)
	if err != nil {
		k.t.Fatal(err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.addr = l.Addr().String()
	k.conns = map[net.Conn]struct{}{}
	k.srv = &http.Server{Handler: k.h, ConnState: func(c net.Conn, s http.ConnState) {
		k.mu.Lock()
		defer k.mu.Unlock()
		if s == http.StateNew {
			k.conns[c] = struct{}{}
		}
	}}
	srv := k.srv // kill may clear k.srv before the goroutine runs
	go func() { _ = srv.Serve(l) }()
}

func (k *killable) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.srv == nil {
		return
	}
	_ = k.srv.Close()
	for c := range k.conns {
		_ = c.Close()
	}
	k.srv = nil
}

func (k *killable) url() string { return "ws://" + k.addr + "/" }

// stateLog records a Redialer's states, each change once.
type stateLog struct {
	mu     sync.Mutex
	states []RedialState
	events []RedialEvent
	ch     chan RedialEvent
}

func newStateLog() *stateLog { return &stateLog{ch: make(chan RedialEvent, 1000)} }

func (l *stateLog) on(e RedialEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.states); n == 0 || l.states[n-1] != e.State {
		l.states = append(l.states, e.State)
	}
	l.events = append(l.events, e)
	select {
	case l.ch <- e:
	default:
	}
}

// waitFor waits for an event in state s.
func (l *stateLog) waitFor(t *testing.T, s RedialState) RedialEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-l.ch:
			if e.State == s {
				return e
			}
		case <-timeout:
			t.Fatalf("no %v state within 10s", s)
		}
	}
}

func (l *stateLog) got() []RedialState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]RedialState(nil), l.states...)
}

// fastRedial are options that come back quickly, for tests.
func fastRedial(log *stateLog) *RedialOptions {
	return &RedialOptions{MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, OnState: log.on}
}

// TestRedialAcrossARestart: a client comes back by itself after its
// server is killed and started again on the same address; OnConnect
// runs first on each connection; what was sent while disconnected goes
// out after it, in order, up to the buffer's bound; Recv goes on across
// the reconnection.
func TestRedialAcrossARestart(t *testing.T) {
	t.Parallel()
	echo := &Endpoint{Handler: HandlerFunc(func(ctx context.Context, c *Conn) error {
		for {
			typ, data, err := c.Recv(ctx)
			if err != nil {
				return err
			}
			if err := c.Send(ctx, typ, data); err != nil {
				return err
			}
		}
	})}
	srv := startKillable(t, echo)
	log := newStateLog()
	opts := fastRedial(log)
	opts.SendBuffer = 2
	var mu sync.Mutex
	connects := 0
	opts.OnConnect = func(ctx context.Context, c *Conn) error {
		mu.Lock()
		connects++
		n := connects
		mu.Unlock()
		return c.Send(ctx, protocol.Text, []byte(fmt.Sprintf("hello %d", n)))
	}
	ctx := testCtx(t, 30*time.Second)
	r := Redial(ctx, srv.url(), opts)
	defer r.Close()

	recv := func(want string) {
		t.Helper()
		_, data, err := r.Recv(ctx)
		if err != nil || string(data) != want {
			t.Fatalf("Recv = %q, %v; want %q", data, err, want)
		}
	}
	recv("hello 1")
	if err := r.Send(ctx, protocol.Text, []byte("one")); err != nil {
		t.Fatal(err)
	}
	recv("one")

	srv.kill()
	log.waitFor(t, RedialWaiting)
	for _, m := range []string{"two", "three"} {
		if err := r.Send(ctx, protocol.Text, []byte(m)); err != nil {
			t.Fatalf("Send(%q) while disconnected, with room in the buffer: %v", m, err)
		}
	}
	if err := r.Send(ctx, protocol.Text, []byte("four")); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("Send beyond the buffer while disconnected: %v, want ErrDisconnected", err)
	}
	srv.start()
	recv("hello 2")
	recv("two")
	recv("three")
	if err := r.Send(ctx, protocol.Text, []byte("five")); err != nil {
		t.Fatal(err)
	}
	recv("five")

	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(r.Err(), ErrClosed) || !errors.Is(r.Close(), ErrClosed) {
		t.Errorf("after Close: Err %v, Close again %v; want ErrClosed", r.Err(), r.Close())
	}
	got := log.got()
	// Connecting, connected, then at least one round of waiting and
	// connecting while the server is down, connected again, stopped.
	if len(got) < 6 || got[0] != RedialConnecting || got[1] != RedialConnected || got[2] != RedialWaiting ||
		got[len(got)-2] != RedialConnected || got[len(got)-1] != RedialStopped {
		t.Errorf("states %v", got)
	}
}

// TestRedialStops: what makes a Redialer stop, and what makes it come
// back.
func TestRedialStops(t *testing.T) {
	t.Parallel()
	closeWith := func(code protocol.CloseCode) http.Handler {
		return &Endpoint{Handler: HandlerFunc(func(ctx context.Context, c *Conn) error {
			return &CloseError{Code: code, Reason: "bye"}
		})}
	}
	refuse := func(status int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no", status)
		})
	}
	tests := []struct {
		name  string
		h     http.Handler
		stop  []protocol.CloseCode
		stops bool
	}{
		{"1000 from the server", closeWith(protocol.CloseNormal), nil, true},
		{"1008", closeWith(protocol.ClosePolicyViolation), nil, true},
		{"a stop code", closeWith(4001), []protocol.CloseCode{4001}, true},
		{"another application code", closeWith(4002), []protocol.CloseCode{4001}, false},
		{"1001", closeWith(protocol.CloseGoingAway), nil, false},
		{"1011", closeWith(protocol.CloseInternalError), nil, false},
		{"401", refuse(http.StatusUnauthorized), nil, true},
		{"403", refuse(http.StatusForbidden), nil, true},
		{"404", refuse(http.StatusNotFound), nil, false},
		{"500", refuse(http.StatusInternalServerError), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startKillable(t, tt.h)
			log := newStateLog()
			opts := fastRedial(log)
			opts.StopCodes = tt.stop
			r := Redial(testCtx(t, 20*time.Second), srv.url(), opts)
			defer r.Close()
			if tt.stops {
				e := log.waitFor(t, RedialStopped)
				// It stops with the server's ending: the close, or the
				// refusal.
				var he *HandshakeError
				var ce *CloseError
				if e.Err != r.Err() || !errors.As(r.Err(), &he) && (!errors.As(r.Err(), &ce) || ce.Reason != "bye") {
					t.Fatalf("stopped with %v", r.Err())
				}
				if n := strings.Count(fmt.Sprint(log.got()), "connecting"); n != 1 {
					t.Errorf("states %v: want one attempt", log.got())
				}
				return
			}
			// Comes back: at least three attempts, then Close stops it.
			for range 3 {
				log.waitFor(t, RedialWaiting)
			}
			if err := r.Close(); err != nil || !errors.Is(r.Err(), ErrClosed) {
				t.Fatalf("Close: %v, Err %v", err, r.Err())
			}
		})
	}
}

// TestRedialRetryAfterOnTheWire: a server that refuses with 503 and
// Retry-After is not asked again before that time.
func TestRedialRetryAfterOnTheWire(t *testing.T) {
	t.Parallel()
	srv := startKillable(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "2")
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	log := newStateLog()
	r := Redial(testCtx(t, 20*time.Second), srv.url(), fastRedial(log))
	defer r.Close()
	e := log.waitFor(t, RedialWaiting)
	var he *HandshakeError
	if !errors.As(e.Err, &he) || he.Status != http.StatusServiceUnavailable || e.Delay < 2*time.Second {
		t.Fatalf("waiting %v after %v; want at least 2s after the 503", e.Delay, e.Err)
	}
}

// TestRedialGivesUp: MaxAttempts failed attempts in a row stop it, with
// the last attempt's error.
func TestRedialGivesUp(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "ws://" + l.Addr().String() + "/"
	_ = l.Close() // nothing listens there now
	log := newStateLog()
	opts := fastRedial(log)
	opts.MaxAttempts = 3
	r := Redial(testCtx(t, 20*time.Second), url, opts)
	defer r.Close()
	<-r.Done()
	var oe *net.OpError
	if !strings.Contains(fmt.Sprint(r.Err()), "after 3 attempts") || !errors.As(r.Err(), &oe) {
		t.Errorf("stopped with %v, want giving up after 3 attempts with the dial's error", r.Err())
	}
	if n := strings.Count(fmt.Sprint(log.got()), "connecting"); n != 3 {
		t.Errorf("states %v: want 3 attempts", log.got())
	}
}

// TestRedialStopsAtOnce: a URL no dial can use, and the end of ctx, stop
// it at once; Send and Recv then return why.
func TestRedialStopsAtOnce(t *testing.T) {
	t.Parallel()
	r := Redial(context.Background(), "http://example.invalid/", nil)
	<-r.Done()
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "scheme must be ws or wss") {
		t.Errorf("bad scheme: stopped with %v", err)
	}
	if _, _, err := r.Recv(context.Background()); err != r.Err() {
		t.Errorf("Recv after stopping: %v", err)
	}
	if err := r.Send(context.Background(), protocol.Text, nil); err != r.Err() {
		t.Errorf("Send after stopping: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	srv := startKillable(t, &Endpoint{Handler: HandlerFunc(func(ctx context.Context, c *Conn) error {
		_, _, err := c.Recv(ctx)
		return err
	})})
	log := newStateLog()
	r = Redial(ctx, srv.url(), fastRedial(log))
	log.waitFor(t, RedialConnected)
	cancel()
	<-r.Done()
	if !errors.Is(r.Err(), context.Canceled) {
		t.Errorf("after ctx's end: %v", r.Err())
	}
	if !errors.Is(r.Close(), ErrClosed) {
		t.Error("Close after stopping did not say so")
	}
}

// request is what a server saw of a handshake.
type request struct {
	Query  string
	Header string
}

// TestRedialBeforeDial: each attempt dials the URL and headers BeforeDial
// makes of a fresh copy of Redial's, the first attempt included.
func TestRedialBeforeDial(t *testing.T) {
	t.Parallel()
	seen := make(chan request, 10)
	srv := startKillable(t, &Endpoint{Handler: HandlerFunc(func(ctx context.Context, c *Conn) error {
		seen <- request{c.Request().URL.RawQuery, c.Request().Header.Get("X-Attempt") + " " + c.Request().Header.Get("Authorization")}
		if err := c.Send(ctx, protocol.Text, []byte("hi")); err != nil {
			return err
		}
		return &CloseError{Code: protocol.CloseServiceRestart}
	})})
	var copies []request // what BeforeDial was given
	opts := fastRedial(newStateLog())
	opts.Dial = &DialOptions{Header: http.Header{"Authorization": {"Bearer x"}}}
	attempt := 0
	opts.BeforeDial = func(ctx context.Context, u *url.URL, h http.Header) error {
		copies = append(copies, request{u.RawQuery, h.Get("X-Attempt") + " " + h.Get("Authorization")})
		attempt++
		q := u.Query()
		q.Set("since", strconv.Itoa(attempt))
		u.RawQuery = q.Encode()
		h.Set("X-Attempt", strconv.Itoa(attempt))
		return nil
	}
	ctx := testCtx(t, 20*time.Second)
	r := Redial(ctx, srv.url()+"?nick=ann", opts)
	defer r.Close()
	for range 3 {
		if _, _, err := r.Recv(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var got []request
	for range 3 {
		got = append(got, <-seen)
	}
	want := []request{
		{"nick=ann&since=1", "1 Bearer x"},
		{"nick=ann&since=2", "2 Bearer x"},
		{"nick=ann&since=3", "3 Bearer x"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("handshakes (-want +got):\n%s", diff)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// Each call got Redial's URL and headers, not the last call's.
	for i, c := range copies {
		if c != (request{"nick=ann", " Bearer x"}) {
			t.Errorf("BeforeDial's call %d was given %+v", i+1, c)
		}
	}
}

// TestRedialBeforeDialFails: an error from BeforeDial is a failed
// attempt; a URL that cannot be dialed stops the Redialer at once.
func TestRedialBeforeDialFails(t *testing.T) {
	t.Parallel()
	errNoToken := errors.New("no token")
	tests := []struct {
		name       string
		beforeDial func(ctx context.Context, u *url.URL, h http.Header) error
		attempts   int
		want       string
		is         error
	}{
		{"an error", func(context.Context, *url.URL, http.Header) error { return errNoToken },
			2, "giving up after 2 attempts: service: redial: BeforeDial: no token", errNoToken},
		{"another scheme", func(_ context.Context, u *url.URL, _ http.Header) error { u.Scheme = "http"; return nil },
			1, "service: redial: BeforeDial: service: Dial http://127.0.0.1:1/: scheme must be ws or wss", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log := newStateLog()
			opts := fastRedial(log)
			opts.MaxAttempts = 2
			opts.BeforeDial = tt.beforeDial
			r := Redial(testCtx(t, 20*time.Second), "ws://127.0.0.1:1/", opts)
			defer r.Close()
			<-r.Done()
			if err := r.Err(); err == nil || !strings.HasSuffix(err.Error(), tt.want) || tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("stopped with %v, want …%s", err, tt.want)
			}
			if n := strings.Count(fmt.Sprint(log.got()), "connecting"); n != tt.attempts {
				t.Errorf("states %v: want %d attempts", log.got(), tt.attempts)
			}
		})
	}
}

// TestRedialBeforeDialWaitsForTheReader: the attempt after a connection
// waits until Recv has returned every message the connection received,
// those that came before it ended included, and has been called again;
// BeforeDial then sees the last one the client handled (in a variable
// that the reader sets without a lock). A client that never calls Recv
// is not waited for.
func TestRedialBeforeDialWaitsForTheReader(t *testing.T) {
	t.Parallel()
	// Each connection gets the three numbers after ?since=, then 1012.
	srv := startKillable(t, &Endpoint{Handler: HandlerFunc(func(ctx context.Context, c *Conn) error {
		since, _ := strconv.Atoi(c.Request().URL.Query().Get("since"))
		for n := since + 1; n <= since+3; n++ {
			if err := c.Send(ctx, protocol.Text, []byte(strconv.Itoa(n))); err != nil {
				return err
			}
		}
		return &CloseError{Code: protocol.CloseServiceRestart}
	})})

	t.Run("reader", func(t *testing.T) {
		t.Parallel()
		log := newStateLog()
		opts := fastRedial(log)
		last := ""
		var dialed []string // the query of each attempt
		opts.BeforeDial = func(_ context.Context, u *url.URL, _ http.Header) error {
			if last != "" {
				u.RawQuery = "since=" + last
			}
			dialed = append(dialed, u.RawQuery)
			return nil
		}
		ctx := testCtx(t, 20*time.Second)
		r := Redial(ctx, srv.url(), opts)
		defer r.Close()
		var got []string
		recv := func() {
			t.Helper()
			_, data, err := r.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			last = string(data)
			got = append(got, last)
		}
		recv()
		// The connection ends, and the wait before the next attempt
		// passes, while the client holds its first message.
		e := log.waitFor(t, RedialWaiting)
		time.Sleep(e.Delay + 50*time.Millisecond)
		if s := r.State(); s != RedialWaiting {
			t.Fatalf("state %v while the reader holds a message of the last connection; want waiting", s)
		}
		for range 8 {
			recv()
		}
		if diff := cmp.Diff([]string{"1", "2", "3", "4", "5", "6", "7", "8", "9"}, got); diff != "" {
			t.Errorf("received (-want +got):\n%s", diff)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"", "since=3", "since=6"}, dialed); diff != "" {
			t.Errorf("attempts' queries (-want +got):\n%s", diff)
		}
	})

	t.Run("no reader", func(t *testing.T) {
		t.Parallel()
		log := newStateLog()
		opts := fastRedial(log)
		calls := make(chan struct{}, 10)
		opts.BeforeDial = func(context.Context, *url.URL, http.Header) error {
			calls <- struct{}{}
			return nil
		}
		r := Redial(testCtx(t, 20*time.Second), srv.url(), opts)
		defer r.Close()
		// Its connections end with messages unread.
		for range 2 {
			log.waitFor(t, RedialConnected)
		}
		if n := len(calls); n < 2 {
			t.Errorf("BeforeDial called %d times for 2 connections", n)
		}
	})
}
