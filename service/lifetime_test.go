package service

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// tracker is handshake middleware that records, in order, what the
// Lifetimes it attaches report.
type tracker struct {
	mu     sync.Mutex
	events []string
	served chan struct{} // receives when ServeHTTP has returned
}

func (tr *tracker) record(e string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.events = append(tr.events, e)
}

func (tr *tracker) got() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.events...)
}

// wrap tracks each request twice, as two nested middlewares would.
func (tr *tracker) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, outer := Track(r, func() { tr.record("outer ended") })
		r, inner := Track(r, func() { tr.record("inner ended") })
		next.ServeHTTP(w, r)
		tr.record("served")
		if inner.Upgraded() != outer.Upgraded() {
			tr.record("inner and outer disagree")
		}
		if !inner.Upgraded() {
			tr.record("not upgraded")
		}
		tr.served <- struct{}{}
	})
}

func TestTrack(t *testing.T) {
	release := make(chan struct{})
	handlerDone := make(chan struct{}, 1)
	running := make(chan struct{}, 1)
	tr := &tracker{served: make(chan struct{}, 1)}
	e := &Endpoint{Protocols: []string{"chat"}, Handler: HandlerFunc(func(ctx context.Context, c *Conn) error {
		defer func() { handlerDone <- struct{}{} }()
		tr.record("handler running")
		running <- struct{}{}
		<-release
		return nil
	})}
	mux := http.NewServeMux()
	mux.Handle("/ws", tr.wrap(e))
	mux.Handle("/plain", tr.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("plain"))
	})))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http")

	wait := func(t *testing.T, ch chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not happen; events %q", what, tr.got())
		}
	}
	reset := func() {
		tr.mu.Lock()
		tr.events = nil
		tr.mu.Unlock()
	}

	t.Run("upgraded", func(t *testing.T) {
		reset()
		c := dial(t, wsURL+"/ws", &DialOptions{Subprotocols: []string{"chat"}})
		// ServeHTTP returns while the handler is still running.
		wait(t, tr.served, "ServeHTTP's return")
		wait(t, running, "the handler's start")
		if diff := cmp.Diff([]string{"handler running", "served"}, tr.got(), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Fatalf("before the connection ends (-want +got):\n%s", diff)
		}
		close(release)
		wait(t, handlerDone, "the handler's return")
		if _, _, err := c.Recv(context.Background()); code(err) != 1000 {
			t.Fatalf("client got %v, want 1000", err)
		}
		want := []string{"inner ended", "outer ended"}
		deadline := time.Now().Add(5 * time.Second)
		for len(tr.got()) < 2+len(want) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if diff := cmp.Diff(want, tr.got()[2:]); diff != "" {
			t.Fatalf("events (-want +got):\n%s", diff)
		}
	})

	refusals := []struct {
		name string
		do   func() (int, error)
	}{
		{"refused handshake", func() (int, error) {
			_, resp, err := Dial(context.Background(), wsURL+"/ws", &DialOptions{Subprotocols: []string{"other"}})
			if resp == nil {
				return 0, err
			}
			return resp.StatusCode, nil
		}},
		{"plain request", func() (int, error) {
			resp, err := http.Get(srv.URL + "/plain")
			if err != nil {
				return 0, err
			}
			resp.Body.Close()
			return resp.StatusCode, nil
		}},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			reset()
			if _, err := tc.do(); err != nil {
				t.Fatal(err)
			}
			wait(t, tr.served, "ServeHTTP's return")
			// ended never runs for a request that was not upgraded.
			time.Sleep(50 * time.Millisecond)
			if diff := cmp.Diff([]string{"served", "not upgraded"}, tr.got()); diff != "" {
				t.Fatalf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAcceptInHandler checks accepting inside an http.Handler: the
// connection is served on ServeHTTP's goroutine, and closing it with
// CloseWithError gives the peer what a handler's return would.
func TestAcceptInHandler(t *testing.T) {
	release := make(chan struct{})
	served := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(served)
		c, err := Accept(w, r, nil)
		if err != nil {
			return
		}
		<-release
		c.CloseWithError(&CloseError{Code: 4002, Reason: "served here"})
	}))
	defer srv.Close()
	c := dial(t, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	select {
	case <-served:
		t.Fatal("ServeHTTP returned while serving the connection")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if _, _, err := c.Recv(context.Background()); code(err) != 4002 {
		t.Fatalf("client got %v, want 4002", err)
	}
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("ServeHTTP did not return after closing")
	}
}

// code returns the close code err carries.
func code(err error) int {
	c, _ := CloseStatus(err)
	return int(c)
}

// TestUpgrade checks what Upgrade's caller sees: the refusal's error once it
// is written, nil once the connection is open with the handler running,
// and a panic of the upgrade raised again on the caller's goroutine.
func TestUpgrade(t *testing.T) {
	type outcome struct {
		err   error
		value any // what Upgrade panicked with
	}
	results := make(chan outcome, 1)
	running := make(chan struct{}, 1)
	var h HandlerFunc = func(ctx context.Context, c *Conn) error {
		running <- struct{}{}
		_, _, err := c.Recv(ctx)
		return err
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		opts := &AcceptOptions{}
		if r.URL.Path == "/panic" {
			opts.CheckOrigin = func(*http.Request) bool { panic("origin check failed") }
		}
		var o outcome
		func() {
			defer func() { o.value = recover() }()
			o.err = Upgrade(w, r, opts, h)
		}()
		results <- o
		if o.value != nil {
			panic(http.ErrAbortHandler) // as net/http would see it
		}
	}))
	t.Cleanup(srv.Close)
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http")

	// Refused: a plain GET is answered 426 before Serve returns.
	res, err := http.Get(srv.URL + "/plain")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	o := <-results
	var he *HandshakeError
	if !errors.As(o.err, &he) || he.Status != http.StatusUpgradeRequired || res.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("plain GET: Serve returned %v, client got %d; want a 426 HandshakeError both sides", o.err, res.StatusCode)
	}

	// Accepted: Serve returns nil, and the handler runs after it.
	c := dial(t, wsURL+"/ok", nil)
	if o := <-results; o.err != nil || o.value != nil {
		t.Errorf("accepted: Serve returned %v, panicked with %v", o.err, o.value)
	}
	select {
	case <-running:
	case <-time.After(10 * time.Second):
		t.Fatal("handler did not run")
	}
	ctx := testCtx(t, 10*time.Second)
	if err := c.Close(1000, "bye"); err != nil {
		t.Errorf("close: %v", err)
	}

	// A panic in CheckOrigin reaches Serve's caller with its value.
	if _, _, err := Dial(ctx, wsURL+"/panic", nil); err == nil {
		t.Error("dial of /panic succeeded")
	}
	if o := <-results; o.value != "origin check failed" {
		t.Errorf("panicking CheckOrigin: Serve returned %v, panicked with %v; want the panic's value", o.err, o.value)
	}
}

// TestInvoke checks that Invoke returns a handler's error, and a
// *PanicError with the value and the panicking frame for a panic.
func TestInvoke(t *testing.T) {
	t.Parallel()
	server, _ := pairForInvoke(t)
	boom := errors.New("boom")
	if err := Invoke(context.Background(), server, HandlerFunc(func(context.Context, *Conn) error { return boom })); err != boom {
		t.Errorf("Invoke = %v, want the handler's error", err)
	}
	err := Invoke(context.Background(), server, HandlerFunc(panickingHandler))
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "on purpose" || !strings.Contains(string(pe.Stack), "panickingHandler") {
		t.Errorf("Invoke of a panicking handler = %v, want a *PanicError naming the frame", err)
	}
}

func panickingHandler(context.Context, *Conn) error { panic("on purpose") }

// pairForInvoke returns a server connection and its client.
func pairForInvoke(t *testing.T) (*Conn, *Conn) {
	t.Helper()
	got := make(chan *Conn, 1)
	url, _ := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
		got <- c
		<-ctx.Done()
		return nil
	})
	client := dial(t, url, nil)
	return <-got, client
}
