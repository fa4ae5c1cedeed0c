package service

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
)

// serverConn serves one connection and hands its server side to the test,
// which drives it; the handler waits for the connection's end. When the
// test ends the connection is dropped and its handler waited for, so that
// nothing of it outlives the test (an idle reader would otherwise notice
// the peer's end only after a turn).
func serverConn(t *testing.T, opts Options) (*Conn, *peer) {
	t.Helper()
	got := make(chan *Conn, 1)
	returned := make(chan struct{})
	_, addr := serveFunc(t, opts, func(ctx context.Context, c *Conn) error {
		defer close(returned)
		got <- c
		<-ctx.Done()
		return nil
	})
	p := newPeer(t, addr)
	select {
	case c := <-got:
		t.Cleanup(func() {
			c.abort(errors.New("the test is over"))
			<-returned
		})
		return c, p
	case <-time.After(5 * time.Second):
		t.Fatal("no connection")
		return nil, nil
	}
}

// expectState waits for the reader to reach state with queued messages.
func expectState(t *testing.T, c *Conn, want readerState, queued int) {
	t.Helper()
	var st readerState
	var n int
	if !wstest.Settle(3*time.Second, func() bool { st, n = c.rd.snapshot(); return st == want && n == queued }) {
		t.Fatalf("reader is %v with %d queued, want %v with %d", st, n, want, queued)
	}
}

// recvAsync receives on another goroutine.
func recvAsync(ctx context.Context, c *Conn) <-chan string {
	ch := make(chan string, 1)
	go func() {
		_, data, err := c.Recv(ctx)
		if err != nil {
			ch <- "error: " + err.Error()
			return
		}
		ch <- string(data)
	}()
	return ch
}

func expectRecv(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("received %q, want %q", got, want)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("nothing received, want %q", want)
	}
}

func send(t *testing.T, p *peer, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		if err := p.c.WriteMessage(wstest.OpText, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReaderTransitions drives the reader machine through each row of its
// transition table (see reader) and checks the state it reaches.
func TestReaderTransitions(t *testing.T) {
	t.Parallel()
	short := Options{PingInterval: 100 * time.Millisecond, PongTimeout: 150 * time.Millisecond, RecvQueue: 2}
	tests := []struct {
		name string
		opts Options
		run  func(t *testing.T, c *Conn, p *peer)
	}{
		{"unstarted: start gives idle", Options{}, func(t *testing.T, c *Conn, p *peer) {
			expectState(t, c, readerIdle, 0)
		}},
		{"idle: direct receive gives direct, its message idle", Options{}, func(t *testing.T, c *Conn, p *peer) {
			ch := recvAsync(c.Context(), c)
			expectState(t, c, readerDirect, 0)
			send(t, p, "a")
			expectRecv(t, ch, "a")
			expectState(t, c, readerIdle, 0)
		}},
		{"idle: interruptible receive starts the loop", Options{}, func(t *testing.T, c *Conn, p *peer) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch := recvAsync(ctx, c)
			expectState(t, c, readerLoop, 0)
			send(t, p, "a")
			expectRecv(t, ch, "a")
			expectState(t, c, readerLoop, 0)
		}},
		{"idle: the turn timer starts the loop", Options{}, func(t *testing.T, c *Conn, p *peer) {
			if st, _ := c.rd.snapshot(); st != readerIdle {
				t.Fatalf("state %v before a turn, want idle", st)
			}
			time.Sleep(turnDelay + 100*time.Millisecond)
			expectState(t, c, readerLoop, 0)
		}},
		{"idle: CloseRead starts the loop", Options{}, func(t *testing.T, c *Conn, p *peer) {
			c.CloseRead()
			expectState(t, c, readerLoop, 0)
		}},
		{"idle: closing starts the loop for the peer's close", Options{}, func(t *testing.T, c *Conn, p *peer) {
			go func() { _ = c.Close(1000, "") }()
			select {
			case f := <-p.closes:
				st, _ := c.rd.snapshot()
				if st != readerLoop {
					t.Errorf("closing: reader is %v, want loop", st)
				}
				_ = p.c.WriteClose(f.CloseCode(), "")
			case <-time.After(3 * time.Second):
				t.Fatal("no close frame")
			}
			expectState(t, c, readerEnded, 0)
		}},
		{"direct: message read while closing starts the loop", Options{}, func(t *testing.T, c *Conn, p *peer) {
			ch := recvAsync(c.Context(), c)
			expectState(t, c, readerDirect, 0)
			go func() { _ = c.Close(1000, "") }()
			<-p.closes
			send(t, p, "late")
			if got := <-ch; got != "late" {
				t.Fatalf("direct receive got %q, want the message it was reading", got)
			}
			expectState(t, c, readerLoop, 0)
			_ = p.c.WriteClose(1000, "")
			expectState(t, c, readerEnded, 0)
		}},
		{"loop: messages are queued", Options{}, func(t *testing.T, c *Conn, p *peer) {
			time.Sleep(turnDelay + 100*time.Millisecond)
			send(t, p, "a", "b")
			expectState(t, c, readerLoop, 2)
		}},
		{"loop: a direct receiver takes the role back", Options{}, func(t *testing.T, c *Conn, p *peer) {
			time.Sleep(turnDelay + 100*time.Millisecond)
			expectState(t, c, readerLoop, 0)
			ch := recvAsync(c.Context(), c)
			waitFor(t, time.Second, c.rd.directWaiting) // the receiver waits on the loop
			send(t, p, "a")
			expectRecv(t, ch, "a")
			expectState(t, c, readerIdle, 0)
			ch = recvAsync(c.Context(), c)
			expectState(t, c, readerDirect, 0)
			send(t, p, "b")
			expectRecv(t, ch, "b")
		}},
		{"loop: a full queue gives full; a take, loop", Options{RecvQueue: 2}, func(t *testing.T, c *Conn, p *peer) {
			time.Sleep(turnDelay + 100*time.Millisecond)
			send(t, p, "a", "b", "c")
			expectState(t, c, readerFull, 2)
			expectRecv(t, recvAsync(c.Context(), c), "a")
			expectState(t, c, readerFull, 2) // "c" fills it again
			expectRecv(t, recvAsync(c.Context(), c), "b")
			expectRecv(t, recvAsync(c.Context(), c), "c")
			expectState(t, c, readerLoop, 0)
		}},
		{"full: the stall timer fails with 1008", short, func(t *testing.T, c *Conn, p *peer) {
			send(t, p, "a", "b")
			<-c.Done()
			expectState(t, c, readerEnded, 2)
			if code, reason := CloseStatus(c.Err()); code != protocol.ClosePolicyViolation || !strings.Contains(reason, "not read") {
				t.Errorf("ended with %v, want 1008 saying messages were not read", c.Err())
			}
		}},
		{"loop: a waiting Reader gets the stream; its end, loop", Options{}, func(t *testing.T, c *Conn, p *peer) {
			got := make(chan string, 1)
			go func() {
				_, r, err := c.Reader(context.Background())
				if err != nil {
					got <- err.Error()
					return
				}
				expectState(t, c, readerStream, 0)
				b := make([]byte, 10)
				n, _ := r.Read(b)
				got <- string(b[:n])
			}()
			expectState(t, c, readerLoop, 0)
			send(t, p, "streamed")
			expectRecv(t, got, "streamed")
			expectState(t, c, readerStream, 0)
			// The next receive releases the stream: the loop reads on and
			// hands the role back to it.
			ch := recvAsync(c.Context(), c)
			waitFor(t, time.Second, c.rd.directWaiting)
			send(t, p, "next")
			expectRecv(t, ch, "next")
			expectState(t, c, readerIdle, 0)
		}},
		{"stream: the stall timer fails with 1008", short, func(t *testing.T, c *Conn, p *peer) {
			go func() { _, _, _ = c.Reader(context.Background()) }()
			expectState(t, c, readerLoop, 0)
			send(t, p, "never read")
			<-c.Done()
			if code, _ := CloseStatus(c.Err()); code != protocol.ClosePolicyViolation {
				t.Errorf("ended with %v, want 1008", c.Err())
			}
		}},
		{"loop: a data message after CloseRead fails with 1008", Options{}, func(t *testing.T, c *Conn, p *peer) {
			c.CloseRead()
			send(t, p, "a")
			<-c.Done()
			expectState(t, c, readerEnded, 0)
			if code, _ := CloseStatus(c.Err()); code != protocol.ClosePolicyViolation {
				t.Errorf("ended with %v, want 1008", c.Err())
			}
		}},
		{"any: the peer's close ends reading", Options{}, func(t *testing.T, c *Conn, p *peer) {
			time.Sleep(turnDelay + 100*time.Millisecond)
			_ = p.c.WriteClose(4000, "done")
			expectState(t, c, readerEnded, 0)
			if code, _ := CloseStatus(c.Err()); code != 4000 {
				t.Errorf("ended with %v, want 4000", c.Err())
			}
		}},
		{"idle: the connection's end gives ended", Options{}, func(t *testing.T, c *Conn, p *peer) {
			expectState(t, c, readerIdle, 0)
			c.abort(errors.New("test"))
			expectState(t, c, readerEnded, 0)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, p := serverConn(t, tt.opts)
			tt.run(t, c, p)
		})
	}
}
