package service

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
)

func TestKeepaliveDropsUnresponsivePeer(t *testing.T) {
	t.Parallel()
	const interval, timeout = 100 * time.Millisecond, 150 * time.Millisecond
	ended := make(chan result, 1)
	_, addr := serveFunc(t, Options{PingInterval: interval, PongTimeout: timeout}, func(ctx context.Context, c *Conn) error {
		start := time.Now()
		<-ctx.Done()
		code, _ := CloseStatus(context.Cause(ctx))
		ended <- result{code: int(code), err: errors.New(time.Since(start).String())}
		return nil
	})
	start := time.Now()
	rc := rawDial(t, addr) // reads nothing, so answers no ping
	r := waitResult(t, ended, 5*time.Second)
	elapsed := time.Since(start)
	if r.code != int(protocol.CloseAbnormal) {
		t.Errorf("ended with %d, want 1006", r.code)
	}
	// Detection is due at interval+timeout; allow for a loaded machine.
	if elapsed > interval+timeout+time.Second {
		t.Errorf("unresponsive peer detected after %v, want about %v", elapsed, interval+timeout)
	}
	if elapsed < interval+timeout-50*time.Millisecond {
		t.Errorf("peer dropped after %v, before its pong was due (%v)", elapsed, interval+timeout)
	}
	// The peer received pings before being dropped.
	f, err := rc.ReadFrame(time.Second)
	if err != nil || f.Opcode != wstest.OpPing {
		t.Errorf("first frame %+v, %v; want a ping", f, err)
	}
}

func TestKeepaliveKeepsResponsivePeer(t *testing.T) {
	t.Parallel()
	const interval, timeout = 50 * time.Millisecond, 100 * time.Millisecond
	state := make(chan State, 1)
	url, _ := serveFunc(t, Options{PingInterval: interval, PongTimeout: timeout}, func(ctx context.Context, c *Conn) error {
		time.Sleep(10 * (interval + timeout))
		state <- c.State()
		return nil
	})
	c := dial(t, url, nil) // its read loop answers pings
	if s := <-state; s != StateOpen {
		t.Errorf("responsive peer's connection is %v after many pings, want open", s)
	}
	_, _, err := c.Recv(testCtx(t, 5*time.Second))
	if code, _ := CloseStatus(err); code != protocol.CloseNormal {
		t.Errorf("got %v, want normal close", err)
	}
}

func TestSendOnlyHandlerAnswersPingsAndSeesClose(t *testing.T) {
	t.Parallel()
	seen := make(chan result, 1)
	_, addr := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
		for {
			if err := c.Send(ctx, protocol.Text, []byte("tick")); err != nil {
				code, reason := CloseStatus(err)
				if code == 0 {
					code, reason = CloseStatus(context.Cause(ctx))
				}
				seen <- result{code: int(code), reason: reason, err: err}
				return err
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	pong := make(chan string, 1)
	ws.SetPongHandler(func(s string) error { pong <- s; return nil })
	gotClose := make(chan int, 1)
	ws.SetCloseHandler(func(code int, _ string) error { gotClose <- code; return nil })
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	if err := ws.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-pong:
		if p != "are you there" {
			t.Errorf("pong payload %q", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a handler that only sends did not answer a ping")
	}
	if err := ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "bye"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	r := waitResult(t, seen, 5*time.Second)
	if r.code != 4001 || r.reason != "bye" {
		t.Errorf("handler saw %d %q (%v), want 4001 bye", r.code, r.reason, r.err)
	}
	select {
	case code := <-gotClose:
		if code != 4001 {
			t.Errorf("close echoed with %d, want 4001", code)
		}
	case <-time.After(5 * time.Second):
		t.Error("close not echoed")
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	url, _ := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
		_, _, err := c.Recv(ctx)
		return err
	})
	c := dial(t, url, nil)
	for range 3 {
		if err := c.Ping(testCtx(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.Close(protocol.CloseNormal, "")
	if err := c.Ping(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Ping after Close: %v, want ErrClosed", err)
	}
}
