package service

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsmap/wsmap/protocol"
)

// payload returns the content of message i from sender g: a header that
// names it and a body whose length and bytes depend on both, so that a
// torn or interleaved write is detected.
func payload(g, i int) []byte {
	n := (g*131 + i*17) % 3000
	body := bytes.Repeat([]byte{byte('a' + (g+i)%26)}, n)
	return append([]byte(fmt.Sprintf("%d:%d:", g, i)), body...)
}

func checkPayload(data []byte) (g, i int, err error) {
	parts := bytes.SplitN(data, []byte(":"), 3)
	if len(parts) != 3 {
		return 0, 0, fmt.Errorf("malformed message %.40q", data)
	}
	g, _ = strconv.Atoi(string(parts[0]))
	i, _ = strconv.Atoi(string(parts[1]))
	if !bytes.Equal(data, payload(g, i)) {
		return 0, 0, fmt.Errorf("corrupt message %d:%d (%d bytes)", g, i, len(data))
	}
	return g, i, nil
}

func TestConcurrentSendersAndReceiver(t *testing.T) {
	t.Parallel()
	const senders, perSender, fromClient = 64, 50, 500
	serverGot := make(chan error, 1)
	url, _ := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
		var wg sync.WaitGroup
		for g := range senders {
			wg.Go(func() {
				for i := range perSender {
					if err := c.Send(ctx, protocol.Binary, payload(g, i)); err != nil {
						t.Errorf("sender %d: %v", g, err)
						return
					}
				}
			})
		}
		// Meanwhile, receive everything the client sends.
		var err error
		for n := 0; n < fromClient && err == nil; n++ {
			var data []byte
			if _, data, err = c.Recv(ctx); err == nil {
				if _, i, cerr := checkPayload(data); cerr != nil || i != n {
					err = fmt.Errorf("message %d from client: %v (index %d)", n, cerr, i)
				}
			}
		}
		wg.Wait()
		serverGot <- err
		_, _, err = c.Recv(ctx) // until the client closes
		return err
	})
	c := dial(t, url, nil)
	ctx := testCtx(t, 30*time.Second)
	go func() {
		for n := range fromClient {
			if err := c.Send(ctx, protocol.Binary, payload(999, n)); err != nil {
				t.Errorf("client send: %v", err)
				return
			}
		}
	}()
	next := make([]int, senders) // the next index expected from each sender
	for n := 0; n < senders*perSender; n++ {
		_, data, err := c.Recv(ctx)
		if err != nil {
			t.Fatalf("after %d messages: %v", n, err)
		}
		g, i, err := checkPayload(data)
		if err != nil {
			t.Fatal(err)
		}
		if i != next[g] {
			t.Fatalf("sender %d: got message %d, want %d (lost, duplicated or reordered)", g, i, next[g])
		}
		next[g]++
	}
	if err := <-serverGot; err != nil {
		t.Fatal(err)
	}
	if err := c.Close(protocol.CloseNormal, ""); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentReceivers(t *testing.T) {
	t.Parallel()
	const total = 400
	url, _ := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
		for i := range total {
			if err := c.Send(ctx, protocol.Text, []byte(strconv.Itoa(i))); err != nil {
				return err
			}
		}
		_, _, err := c.Recv(ctx)
		return err
	})
	c := dial(t, url, nil)
	ctx := testCtx(t, 10*time.Second)
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				mu.Lock()
				n := len(seen)
				mu.Unlock()
				if n >= total {
					return
				}
				rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
				_, data, err := c.Recv(rctx)
				cancel()
				if err != nil {
					continue // timed out waiting; check whether all arrived
				}
				mu.Lock()
				seen[string(data)]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for i := range total {
		if n := seen[strconv.Itoa(i)]; n != 1 {
			t.Errorf("message %d received %d times", i, n)
		}
	}
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	type meta struct {
		proto, path, query, header string
		state                      State
		remote                     bool
	}
	got := make(chan meta, 1)
	url, _ := serve(t, &Endpoint{Protocols: []string{"chat.v1"}, Handler: HandlerFunc(func(ctx context.Context, c *Conn) error {
		got <- meta{c.Subprotocol(), c.Request().URL.Path, c.Request().URL.RawQuery, c.Request().Header.Get("X-Test"), c.State(), c.RemoteAddr() != nil}
		return nil
	})})
	c := dial(t, url+"/room/a?x=1", &DialOptions{Subprotocols: []string{"chat.v1"}, Header: map[string][]string{"X-Test": {"yes"}}})
	want := meta{"chat.v1", "/room/a", "x=1", "yes", StateOpen, true}
	if m := <-got; m != want {
		t.Errorf("server saw %+v, want %+v", m, want)
	}
	if c.Subprotocol() != "chat.v1" || c.Response().StatusCode != 101 || !strings.HasSuffix(c.Request().URL.Path, "/room/a") {
		t.Errorf("client: protocol %q, response %v, request %v", c.Subprotocol(), c.Response().Status, c.Request().URL)
	}
	_, _, _ = c.Recv(testCtx(t, 5*time.Second))
	<-c.Done()
	if c.State() != StateClosed || c.Err() == nil {
		t.Errorf("after close: state %v, Err %v", c.State(), c.Err())
	}
}

func TestStateString(t *testing.T) {
	t.Parallel()
	for s, want := range map[State]string{StateConnecting: "connecting", StateOpen: "open", StateClosing: "closing", StateClosed: "closed", 9: "State(9)"} {
		if s.String() != want {
			t.Errorf("%d: %q, want %q", int(s), s.String(), want)
		}
	}
}
