package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
)

// peer is a raw client that reads every frame the server sends: it
// answers the server's pings while answering is on, and reports pongs,
// data messages, the close frame and the end of the TCP connection.
type peer struct {
	c      *wstest.Conn
	answer atomic.Bool
	pongs  chan string
	data   chan string
	closes chan wstest.Frame
	eof    chan struct{}
}

func newPeer(t *testing.T, addr string) *peer {
	t.Helper()
	p := &peer{c: rawDial(t, addr), pongs: make(chan string, 16), data: make(chan string, 1024),
		closes: make(chan wstest.Frame, 1), eof: make(chan struct{})}
	p.answer.Store(true)
	go p.run()
	return p
}

func (p *peer) run() {
	defer close(p.eof)
	for {
		f, err := p.c.ReadFrame(20 * time.Second)
		if err != nil {
			return
		}
		switch f.Opcode {
		case wstest.OpPing:
			if p.answer.Load() {
				_ = p.c.WriteFrame(wstest.Frame{Fin: true, Opcode: wstest.OpPong, Payload: f.Payload})
			}
		case wstest.OpPong:
			p.pongs <- string(f.Payload)
		case wstest.OpClose:
			p.closes <- f
		default:
			select {
			case p.data <- string(f.Payload):
			default:
			}
		}
	}
}

// ping sends a ping and returns how long its pong took, failing after d.
func (p *peer) ping(t *testing.T, payload string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	if err := p.c.WriteFrame(wstest.Frame{Fin: true, Opcode: wstest.OpPing, Payload: []byte(payload)}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case got := <-p.pongs:
			if got == payload {
				return time.Since(start)
			}
		case <-time.After(d):
			t.Fatalf("no pong for %q within %v", payload, d)
		}
	}
}

// served records what a handler saw of its connection.
type served struct {
	mu       sync.Mutex
	conn     *Conn
	got      []string
	canceled time.Time
	done     chan struct{}
}

func (s *served) cancelledAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.canceled
}

// readingHandlers are handlers that read in different ways, for the
// reading rules: whatever the handler does, control frames are handled.
var readingHandlers = []struct {
	name string
	run  func(ctx context.Context, c *Conn, s *served) error
}{
	{"never reads, sends every 50ms", func(ctx context.Context, c *Conn, s *served) error {
		for {
			if err := c.SendText(ctx, "tick"); err != nil {
				return err
			}
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return nil
			}
		}
	}},
	{"waits on ctx only", func(ctx context.Context, c *Conn, s *served) error {
		<-ctx.Done()
		return nil
	}},
	{"reads one message a second", func(ctx context.Context, c *Conn, s *served) error {
		for {
			_, data, err := c.Recv(ctx)
			if err != nil {
				return err
			}
			s.mu.Lock()
			s.got = append(s.got, string(data))
			s.mu.Unlock()
			time.Sleep(time.Second)
		}
	}},
}

// servePeer serves one connection with run and returns its record.
func servePeer(t *testing.T, opts Options, run func(ctx context.Context, c *Conn, s *served) error) (*served, string) {
	t.Helper()
	s := &served{done: make(chan struct{})}
	var once sync.Once
	_, addr := serveFunc(t, opts, func(ctx context.Context, c *Conn) error {
		first := false
		once.Do(func() { first = true })
		if !first {
			return nil
		}
		defer close(s.done)
		s.mu.Lock()
		s.conn = c
		s.mu.Unlock()
		context.AfterFunc(ctx, func() {
			s.mu.Lock()
			s.canceled = time.Now()
			s.mu.Unlock()
		})
		return run(ctx, c, s)
	})
	return s, addr
}

// TestReadingRules checks, over real sockets, that a connection handles
// control frames whatever its handler does: pings answered, the peer's
// close echoed and the handler's ctx cancelled, a silent peer detected,
// and nothing left running once the peer has gone.
func TestReadingRules(t *testing.T) {
	t.Parallel()
	const ping, pong = 100 * time.Millisecond, 150 * time.Millisecond
	const slack = 750 * time.Millisecond
	opts := Options{PingInterval: ping, PongTimeout: pong}
	for _, h := range readingHandlers {
		for _, n := range []int{0, 1, 5} {
			for _, ending := range []string{"peer closes", "peer goes silent"} {
				t.Run(fmt.Sprintf("%s/%d messages/%s", h.name, n, ending), func(t *testing.T) {
					t.Parallel()
					s, addr := servePeer(t, opts, h.run)
					p := newPeer(t, addr)
					var want []string
					for i := range n {
						msg := fmt.Sprintf("m%d", i)
						want = append(want, msg)
						if err := p.c.WriteMessage(wstest.OpText, []byte(msg)); err != nil {
							t.Fatal(err)
						}
					}
					if d := p.ping(t, "are you there", 2*time.Second); d > time.Second {
						t.Errorf("ping answered after %v, want within 1s", d)
					}
					switch ending {
					case "peer closes":
						start := time.Now()
						if err := p.c.WriteClose(4001, "bye"); err != nil {
							t.Fatal(err)
						}
						select {
						case f := <-p.closes:
							if f.CloseCode() != 4001 {
								t.Errorf("close echoed with %d, want 4001", f.CloseCode())
							}
							if d := time.Since(start); d > time.Second {
								t.Errorf("close echoed after %v, want within 1s", d)
							}
						case <-time.After(2 * time.Second):
							t.Fatal("the peer's close was not echoed")
						}
						waitFor(t, 2*time.Second, func() bool { return !s.cancelledAt().IsZero() })
						if d := s.cancelledAt().Sub(start); d > time.Second {
							t.Errorf("handler's ctx cancelled %v after the peer's close, want within 1s", d)
						}
					case "peer goes silent":
						p.answer.Store(false)
						start := time.Now()
						waitFor(t, 3*time.Second, func() bool { return !s.cancelledAt().IsZero() })
						if d := s.cancelledAt().Sub(start); d > ping+pong+slack {
							t.Errorf("silent peer detected after %v, want within %v", d, ping+pong+slack)
						}
						s.mu.Lock()
						c := s.conn
						s.mu.Unlock()
						<-c.Done()
						if code, _ := CloseStatus(c.Err()); code != protocol.CloseAbnormal {
							t.Errorf("silent peer: connection ended with %v, want 1006", c.Err())
						}
					}
					select {
					case <-s.done:
					case <-time.After(time.Duration(n)*time.Second + 3*time.Second):
						t.Fatal("handler still running after the peer left")
					}
					s.mu.Lock()
					c, got := s.conn, s.got
					s.mu.Unlock()
					<-c.Done()
					waitFor(t, time.Second, func() bool { st, _ := c.rd.snapshot(); return st == readerEnded })
					if strings.HasPrefix(h.name, "reads") {
						if diff := cmp.Diff(want, got); diff != "" {
							t.Errorf("slow reader received (-want +got):\n%s", diff)
						}
					}
				})
			}
		}
	}
}

// TestUnreadMessagesClose checks that an application that leaves the
// queue full and takes nothing is closed with 1008 once
// PingInterval+PongTimeout have passed, with a reason that says so.
func TestUnreadMessagesClose(t *testing.T) {
	t.Parallel()
	const ping, pong = 100 * time.Millisecond, 150 * time.Millisecond
	for _, h := range readingHandlers[:2] {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			_, addr := servePeer(t, Options{PingInterval: ping, PongTimeout: pong, RecvQueue: 4}, h.run)
			p := newPeer(t, addr)
			start := time.Now()
			for i := range 20 {
				if err := p.c.WriteMessage(wstest.OpText, []byte(fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case f := <-p.closes:
				d := time.Since(start)
				if f.CloseCode() != int(protocol.ClosePolicyViolation) || !strings.Contains(f.CloseReason(), "not read") {
					t.Errorf("closed with %d %q, want 1008 saying the messages were not read", f.CloseCode(), f.CloseReason())
				}
				if d < ping+pong || d > ping+pong+time.Second {
					t.Errorf("closed after %v, want after %v and within a second of it", d, ping+pong)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no close frame")
			}
			select {
			case <-p.eof:
			case <-time.After(time.Second):
				t.Error("TCP connection still open after the 1008")
			}
		})
	}
}

// TestSlowReaderKeepsBackpressure checks that a reader slower than its
// peer gets every message, in order, while the queue's bound holds the
// peer back, and that taking a message within the stall limit keeps the
// connection open.
func TestSlowReaderKeepsBackpressure(t *testing.T) {
	t.Parallel()
	const total = 40
	maxQueued := make(chan int, 1)
	s, addr := servePeer(t, Options{RecvQueue: 4}, func(ctx context.Context, c *Conn, s *served) error {
		most := 0
		for len(s.got) < total {
			// Slower than a turn at first, so that the loop reads ahead
			// and fills the queue; then quick, reading directly again.
			pause := 20 * time.Millisecond
			if len(s.got) < 3 {
				pause = turnDelay + 200*time.Millisecond
			}
			time.Sleep(pause)
			if _, n := c.rd.snapshot(); n > most {
				most = n
			}
			_, data, err := c.Recv(ctx)
			if err != nil {
				return err
			}
			s.mu.Lock()
			s.got = append(s.got, string(data))
			s.mu.Unlock()
		}
		maxQueued <- most
		return nil
	})
	p := newPeer(t, addr)
	var want []string
	for i := range total {
		msg := fmt.Sprintf("message %d", i)
		want = append(want, msg)
		if err := p.c.WriteMessage(wstest.OpText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case most := <-maxQueued:
		if most != 4 {
			t.Errorf("at most %d messages queued, want RecvQueue (4)", most)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handler did not receive every message")
	}
	<-s.done
	if diff := cmp.Diff(want, s.got); diff != "" {
		t.Errorf("received (-want +got):\n%s", diff)
	}
}

// TestCloseRead checks that a handler that declared it never reads has
// pings answered and the peer's close echoed, and that a data message
// closes its connection with 1008 at once.
func TestCloseRead(t *testing.T) {
	t.Parallel()
	for _, send := range []bool{false, true} {
		t.Run(fmt.Sprintf("message=%v", send), func(t *testing.T) {
			t.Parallel()
			recvErr := make(chan error, 1)
			s, addr := servePeer(t, Options{}, func(ctx context.Context, c *Conn, s *served) error {
				c.CloseRead()
				_, _, err := c.Recv(ctx)
				recvErr <- err
				<-ctx.Done()
				return nil
			})
			p := newPeer(t, addr)
			if err := <-recvErr; err != ErrReadClosed {
				t.Errorf("Recv after CloseRead: %v, want ErrReadClosed", err)
			}
			if d := p.ping(t, "x", 2*time.Second); d > 200*time.Millisecond {
				t.Errorf("ping answered after %v: the connection should read at once", d)
			}
			start := time.Now()
			if send {
				if err := p.c.WriteMessage(wstest.OpText, []byte("hello")); err != nil {
					t.Fatal(err)
				}
			} else if err := p.c.WriteClose(1000, ""); err != nil {
				t.Fatal(err)
			}
			select {
			case f := <-p.closes:
				want := 1000
				if send {
					want = int(protocol.ClosePolicyViolation)
				}
				if f.CloseCode() != want {
					t.Errorf("closed with %d %q, want %d", f.CloseCode(), f.CloseReason(), want)
				}
				if d := time.Since(start); d > time.Second {
					t.Errorf("closed after %v", d)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("no close frame")
			}
			<-s.done
		})
	}
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	if !wstest.Settle(d, cond) {
		t.Fatalf("condition not met within %v", d)
	}
}

// serverConn serves one connection and hands its server side to the test,
// which drives it; the handler waits for the connection's end.
func serverConn(t *testing.T, opts Options) (*Conn, *peer) {
	t.Helper()
	got := make(chan *Conn, 1)
	_, addr := serveFunc(t, opts, func(ctx context.Context, c *Conn) error {
		got <- c
		<-ctx.Done()
		return nil
	})
	p := newPeer(t, addr)
	select {
	case c := <-got:
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
			time.Sleep(50 * time.Millisecond) // the receiver waits on the loop
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
