package message_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/message/internal/msgtest"
	"github.com/wsmap/wsmap/message/jsonrpc"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

type pair struct{ A, B int }

// arith serves "add" and "echo", and "slow" after a random pause.
func arith() *message.Router {
	r := &message.Router{}
	r.Handle("add", message.Func(func(_ context.Context, p pair) (int, error) { return p.A + p.B, nil }))
	r.Handle("echo", message.Func(func(_ context.Context, v json.RawMessage) (json.RawMessage, error) { return v, nil }))
	r.Handle("slow", message.Func(func(ctx context.Context, p pair) (int, error) {
		select {
		case <-time.After(time.Duration(rand.IntN(3)) * time.Millisecond):
		case <-ctx.Done():
		}
		return p.A * p.B, nil
	}))
	return r
}

// TestCallsBothWays: each side calls the other, and a handler calls back
// the peer whose call it is serving, whose answer is read while the
// handler waits.
func TestCallsBothWays(t *testing.T) {
	t.Parallel()
	server := arith()
	server.Handle("double-via-client", message.Func(func(ctx context.Context, n []int) (int, error) {
		var sum int
		err := message.RequestFrom(ctx).Peer.Call(ctx, "add", pair{n[0], n[0]}, &sum)
		return sum, err
	}))
	sp, cp := peers(t, jsonrpc.Codec{}, server, arith(), nil, nil)
	ctx := context.Background()
	var got int
	if err := cp.Call(ctx, "add", pair{2, 3}, &got); err != nil || got != 5 {
		t.Fatalf("client to server: %d, %v; want 5", got, err)
	}
	if err := sp.Call(ctx, "add", pair{20, 30}, &got); err != nil || got != 50 {
		t.Fatalf("server to client: %d, %v; want 50", got, err)
	}
	if err := cp.Call(ctx, "double-via-client", []int{21}, &got); err != nil || got != 42 {
		t.Fatalf("a call back inside a call: %d, %v; want 42", got, err)
	}
}

// TestCorrelationUnderConcurrency: many goroutines call at once over one
// connection, each way, the answers coming out of order; each gets its
// own.
func TestCorrelationUnderConcurrency(t *testing.T) {
	t.Parallel()
	sp, cp := peers(t, jsonrpc.Codec{}, arith(), arith(), nil, nil)
	const callers, calls = 32, 40
	var wg sync.WaitGroup
	errs := make(chan error, 2*callers)
	for _, p := range []*message.Peer{sp, cp} {
		for g := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range calls {
					var got int
					if err := p.Call(context.Background(), "slow", pair{g, i}, &got); err != nil {
						errs <- err
						return
					}
					if got != g*i {
						errs <- fmt.Errorf("slow(%d, %d) = %d", g, i, got)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestCallTimeout: a call with no answer returns ErrTimeout after
// CallTimeout, frees its turn, and an answer that comes later is
// reported as answering no call.
func TestCallTimeout(t *testing.T) {
	t.Parallel()
	reported := make(chan error, 4)
	sc, client := rawPeer(t, jsonrpc.Codec{}, nil, &message.Options{
		CallTimeout: 100 * time.Millisecond, MaxOutgoing: 1,
		OnError: func(_ *message.Peer, err error) { reported <- err },
	})
	start := time.Now()
	err := client.Call(context.Background(), "never", nil, nil)
	if !errors.Is(err, message.ErrTimeout) || time.Since(start) > 2*time.Second {
		t.Fatalf("Call: %v after %v, want ErrTimeout after 100ms", err, time.Since(start))
	}
	if want := "message: call never (ID 1): message: no answer within the call timeout"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if got := msgtest.Recv(t, sc); got != `{"jsonrpc":"2.0","id":1,"method":"never"}` {
		t.Errorf("the call sent: %s", got)
	}
	send(t, sc, `{"jsonrpc":"2.0","id":1,"result":"late"}`)
	select {
	case err := <-reported:
		if !errors.Is(err, message.ErrUnexpectedAnswer) {
			t.Errorf("reported %v, want ErrUnexpectedAnswer", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the late answer was not reported")
	}
	// The turn was given back: the next call goes out.
	done := make(chan error, 1)
	go func() { done <- client.Call(context.Background(), "next", nil, nil) }()
	if got := msgtest.Recv(t, sc); got != `{"jsonrpc":"2.0","id":2,"method":"next"}` {
		t.Errorf("the next call: %s", got)
	}
	send(t, sc, `{"jsonrpc":"2.0","id":2,"result":null}`)
	if err := <-done; err != nil {
		t.Errorf("the next call: %v", err)
	}
}

// TestCallContext: a call whose ctx ends returns ctx's error, not
// ErrTimeout.
func TestCallContext(t *testing.T) {
	t.Parallel()
	_, client := rawPeer(t, jsonrpc.Codec{}, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := client.Call(ctx, "never", nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, message.ErrTimeout) {
		t.Fatalf("Call: %v, want context.DeadlineExceeded", err)
	}
}

// TestMaxOutgoing: with one call in flight allowed, a second waits until
// the first is answered before it is sent.
func TestMaxOutgoing(t *testing.T) {
	t.Parallel()
	sc, client := rawPeer(t, jsonrpc.Codec{}, nil, &message.Options{MaxOutgoing: 1})
	results := make(chan string, 2)
	call := func(method string) {
		var s string
		if err := client.Call(context.Background(), method, nil, &s); err != nil {
			s = err.Error()
		}
		results <- s
	}
	go call("first")
	if got := msgtest.Recv(t, sc); got != `{"jsonrpc":"2.0","id":1,"method":"first"}` {
		t.Fatalf("first call: %s", got)
	}
	go call("second")
	nothing(t, sc, 200*time.Millisecond) // the second waits its turn
	send(t, sc, `{"jsonrpc":"2.0","id":1,"result":"one"}`)
	if got := msgtest.Recv(t, sc); got != `{"jsonrpc":"2.0","id":2,"method":"second"}` {
		t.Fatalf("second call: %s", got)
	}
	send(t, sc, `{"jsonrpc":"2.0","id":2,"result":"two"}`)
	got := []string{<-results, <-results}
	if diff := cmp.Diff([]string{"one", "two"}, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

// TestMaxIncoming: with one call handled at a time, the peer's calls are
// handled and answered in order, one after another, while the handler
// of the first waits for the answer to a call of its own.
func TestMaxIncoming(t *testing.T) {
	t.Parallel()
	var running, most atomic.Int32
	r := &message.Router{}
	r.Handle("work", message.Func(func(ctx context.Context, args []int) (int, error) {
		n := args[0]
		most.Store(max(most.Load(), running.Add(1)))
		defer running.Add(-1)
		if n == 1 {
			// Calls back the peer, whose answer must be read while the
			// other calls wait.
			var v int
			if err := message.RequestFrom(ctx).Peer.Call(ctx, "ask", nil, &v); err != nil {
				return 0, err
			}
			return v, nil
		}
		return n * 10, nil
	}))
	sc, _ := rawPeer(t, jsonrpc.Codec{}, r, &message.Options{MaxIncoming: 1})
	for i := 1; i <= 3; i++ {
		send(t, sc, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"work","params":[%d]}`, i, i))
	}
	if got := msgtest.Recv(t, sc); got != `{"jsonrpc":"2.0","id":1,"method":"ask"}` {
		t.Fatalf("the handler's call: %s", got)
	}
	send(t, sc, `{"jsonrpc":"2.0","id":1,"result":7}`)
	var got []string
	for range 3 {
		got = append(got, msgtest.Recv(t, sc))
	}
	want := []string{
		`{"jsonrpc":"2.0","id":1,"result":7}`,
		`{"jsonrpc":"2.0","id":2,"result":20}`,
		`{"jsonrpc":"2.0","id":3,"result":30}`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if most.Load() != 1 {
		t.Errorf("%d handlers ran at once, want 1", most.Load())
	}
}

// TestMaxQueued: a call beyond the calls waiting their turn is answered
// at once with the protocol's busy error.
func TestMaxQueued(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	r := &message.Router{}
	r.Handle("block", message.Func(func(ctx context.Context, _ any) (string, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return "done", nil
	}))
	sc, _ := rawPeer(t, jsonrpc.Codec{}, r, &message.Options{MaxIncoming: 1, MaxQueued: 1, OnError: func(*message.Peer, error) {}})
	for i := 1; i <= 3; i++ {
		send(t, sc, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"block"}`, i))
	}
	if got, want := msgtest.Recv(t, sc), `{"jsonrpc":"2.0","id":3,"error":{"code":-32000,"message":"Server busy: too many calls in progress"}}`; got != want {
		t.Errorf("the third call: %s, want %s", got, want)
	}
	close(release)
	for i := 1; i <= 2; i++ {
		if got, want := msgtest.Recv(t, sc), fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"result":"done"}`, i); got != want {
			t.Errorf("call %d: %s, want %s", i, got, want)
		}
	}
}

// TestHandlerFailure: a handler's own error and a panic are answered with
// the protocol's internal error, without their text, and reported with
// the method and ID.
func TestHandlerFailure(t *testing.T) {
	t.Parallel()
	reported := make(chan error, 4)
	r := &message.Router{}
	r.HandleFunc("fail", func(context.Context, *message.Request) (any, error) { return nil, errors.New("database is down") })
	r.HandleFunc("panic", func(context.Context, *message.Request) (any, error) { panic("on purpose") })
	r.HandleFunc("refuse", func(context.Context, *message.Request) (any, error) {
		return nil, jsonrpc.Error(4000, "not now", map[string]int{"retry": 5})
	})
	sc, _ := rawPeer(t, jsonrpc.Codec{}, r, &message.Options{OnError: func(_ *message.Peer, err error) { reported <- err }})
	tests := []struct {
		method, want, reported string
	}{
		{"fail", `{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"Internal error"}}`, `message: handler of fail (ID "1"): database is down`},
		{"panic", `{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"Internal error"}}`, `message: handler of panic (ID "1"): service: handler panic: on purpose`},
		{"refuse", `{"jsonrpc":"2.0","id":1,"error":{"code":4000,"message":"not now","data":{"retry":5}}}`, ""},
	}
	for _, tt := range tests {
		send(t, sc, `{"jsonrpc":"2.0","id":1,"method":"`+tt.method+`"}`)
		if got := msgtest.Recv(t, sc); got != tt.want {
			t.Errorf("%s: answered %s, want %s", tt.method, got, tt.want)
		}
		if tt.reported == "" {
			continue
		}
		err := <-reported
		var he *message.HandlerError
		if !errors.As(err, &he) || he.Method != tt.method || err.Error() != tt.reported {
			t.Errorf("%s: reported %v, want %s", tt.method, err, tt.reported)
		}
	}
	select {
	case err := <-reported:
		t.Errorf("also reported: %v", err)
	default:
	}
}

// TestNotify: a notification runs its handler and is not answered; a
// call that follows it is.
func TestNotify(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	r := arith()
	r.Handle("log", message.Func(func(_ context.Context, line []string) (any, error) {
		got <- line[0]
		return "ignored", nil
	}))
	sc, _ := rawPeer(t, jsonrpc.Codec{}, r, nil)
	send(t, sc, `{"jsonrpc":"2.0","method":"log","params":["hello"]}`)
	if line := <-got; line != "hello" {
		t.Errorf("the handler got %q", line)
	}
	send(t, sc, `{"jsonrpc":"2.0","id":"x","method":"add","params":{"A":1,"B":2}}`)
	if got := msgtest.Recv(t, sc); got != `{"jsonrpc":"2.0","id":"x","result":3}` {
		t.Errorf("answer %s: the notification was answered, or the call was not", got)
	}
	// And Notify writes one.
	_, cp := peers(t, jsonrpc.Codec{}, r, nil, nil, nil)
	if err := cp.Notify(context.Background(), "log", []string{"again"}); err != nil {
		t.Fatal(err)
	}
	if line := <-got; line != "again" {
		t.Errorf("the handler got %q", line)
	}
}

// TestPeerClosesMidCall: a call in flight when the connection ends
// returns the close at once; Serve returns it too.
func TestPeerClosesMidCall(t *testing.T) {
	t.Parallel()
	sc, client := rawPeer(t, jsonrpc.Codec{}, nil, nil)
	done := make(chan error, 1)
	go func() { done <- client.Call(context.Background(), "wait", nil, nil) }()
	msgtest.Recv(t, sc)
	if err := sc.Close(protocol.CloseGoingAway, "bye"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if code, reason := service.CloseStatus(err); code != protocol.CloseGoingAway || reason != "bye" || !errors.Is(err, service.ErrClosed) {
			t.Errorf("Call: %v, want the close 1001 bye", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Call did not return when the connection closed")
	}
	if err := client.Call(context.Background(), "after", nil, nil); !errors.Is(err, service.ErrClosed) {
		t.Errorf("a call after the close: %v", err)
	}
}

// TestMalformedAnsweredInOrder: the answer to a message that cannot be
// read waits for the answers to the calls before it, as a call's would.
func TestMalformedAnsweredInOrder(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	r := &message.Router{}
	r.Handle("wait", message.Func(func(ctx context.Context, _ any) (string, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return "done", nil
	}))
	sc, _ := rawPeer(t, jsonrpc.Codec{}, r, &message.Options{MaxIncoming: 1, OnError: func(*message.Peer, error) {}})
	send(t, sc, `{"jsonrpc":"2.0","id":1,"method":"wait"}`)
	send(t, sc, `{"jsonrpc":"2.0","id":2,"method":`)
	nothing(t, sc, 100*time.Millisecond)
	close(release)
	want := []string{
		`{"jsonrpc":"2.0","id":1,"result":"done"}`,
		`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`,
	}
	got := []string{msgtest.Recv(t, sc), msgtest.Recv(t, sc)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
}
