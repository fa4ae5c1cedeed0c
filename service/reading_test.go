package service

import (
	"context"
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

// recv receives one message and records it.
func (s *served) recv(ctx context.Context, c *Conn) error {
	_, data, err := c.Recv(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.got = append(s.got, string(data))
	s.mu.Unlock()
	return nil
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
			if err := c.Send(ctx, protocol.Text, []byte("tick")); err != nil {
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
			if err := s.recv(ctx, c); err != nil {
				return err
			}
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
					waitFor(t, time.Second, func() bool { st, _ := c.rd.snapshot(); return st == rEnded })
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
			if err := s.recv(ctx, c); err != nil {
				return err
			}
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
