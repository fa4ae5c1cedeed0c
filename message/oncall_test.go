package message_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/message/jsonrpc"
)

type tracedKey struct{}

// TestOnCall checks what Options.OnCall sees of calls each way and of
// notifications, and that a handler runs under the context it returns.
func TestOnCall(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	record := func(s string) {
		mu.Lock()
		seen = append(seen, s)
		mu.Unlock()
	}
	onCall := func(ctx context.Context, c message.CallInfo) (context.Context, func(message.CallEnd)) {
		dir := "in"
		if c.Outgoing {
			dir = "out"
		}
		if c.Peer == nil {
			t.Error("CallInfo without its Peer")
		}
		begin := fmt.Sprintf("%s %s %s id=%s", dir, c.Kind, c.Method, c.ID)
		return context.WithValue(ctx, tracedKey{}, true), func(e message.CallEnd) {
			code := ""
			if e.Answer != nil {
				code = e.Answer.Code
			}
			record(fmt.Sprintf("%s: err=%v answer=%q", begin, e.Err != nil, code))
		}
	}
	r := arith()
	r.HandleFunc("traced", func(ctx context.Context, _ *message.Request) (any, error) {
		return ctx.Value(tracedKey{}) == true, nil
	})
	r.HandleFunc("refuse", func(context.Context, *message.Request) (any, error) {
		return nil, jsonrpc.Error(4000, "not now", nil)
	})
	r.HandleFunc("fail", func(context.Context, *message.Request) (any, error) { return nil, errors.New("down") })
	r.HandleFunc("note", func(context.Context, *message.Request) (any, error) { return nil, nil })
	sp, cp := peers(t, jsonrpc.Codec{}, r, arith(),
		&message.Options{OnCall: onCall, MaxIncoming: 1, OnError: func(*message.Peer, error) {}}, nil)
	ctx := context.Background()

	var traced bool
	if err := cp.Call(ctx, "traced", nil, &traced); err != nil || !traced {
		t.Fatalf("the handler ran under OnCall's context: %v, %v", traced, err)
	}
	if err := cp.Call(ctx, "refuse", nil, nil); err == nil {
		t.Fatal("refuse: no error")
	}
	if err := cp.Call(ctx, "fail", nil, nil); err == nil {
		t.Fatal("fail: no error")
	}
	if err := cp.Call(ctx, "nosuch", nil, nil); err == nil {
		t.Fatal("nosuch: no error")
	}
	if err := cp.Notify(ctx, "note", nil); err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := cp.Call(ctx, "add", pair{1, 2}, &sum); err != nil || sum != 3 {
		t.Fatalf("add: %d, %v", sum, err)
	}
	if err := sp.Call(ctx, "add", pair{2, 2}, &sum); err != nil || sum != 4 {
		t.Fatalf("server's add: %d, %v", sum, err)
	}
	if err := sp.Call(ctx, "nosuch", nil, nil); err == nil {
		t.Fatal("server's nosuch: no error")
	}

	want := []string{
		`in call traced id=1: err=false answer=""`,
		`in call refuse id=2: err=true answer="4000"`,
		`in call fail id=3: err=true answer="-32603"`,
		`in call nosuch id=4: err=true answer="-32601"`,
		`in notify note id=: err=false answer=""`,
		`in call add id=5: err=false answer=""`,
		`out call add id=1: err=false answer=""`,
		`out call nosuch id=2: err=true answer="-32601"`,
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("OnCall saw (-want +got):\n%s", diff)
	}
}
