package natstransport_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsmap/wsmap/internal/natstest"
	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/room/natstransport"
	"github.com/wsmap/wsmap/service"
)

// childHistoryAddrEnv, set with childNATSEnv, makes this test binary a
// wsmap server of historyHandler on that address, which broadcasts
// "cN" (its letter from childNameEnv, then a count) into its room every
// 2ms, or nothing if the name is empty (see runHistoryChild).
const (
	childHistoryAddrEnv = "WSMAP_NATS_CHILD_HISTORY_ADDR"
	childNameEnv        = "WSMAP_NATS_CHILD_NAME" // the letter of its messages
)

// startHistoryChild starts runHistoryChild in a process of its own.
func startHistoryChild(t *testing.T, url, addr, name string) *exec.Cmd {
	t.Helper()
	cmd, _ := startChildProcess(t, childNATSEnv+"="+url, childHistoryAddrEnv+"="+addr, childNameEnv+"="+name)
	return cmd
}

// runHistoryChild serves historyHandler on addr, its rooms' histories in
// JetStream over url, and broadcasts NAME0, NAME1... into its room every
// 2ms while it has one (nothing if name is ""), until it is killed or
// told to stop.
func runHistoryChild(url, addr, name string) int {
	tr, err := natstransport.Connect(url, &testOpts, nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	var l net.Listener
	for try := 0; ; try++ { // the port of a killed predecessor may still be held
		if l, err = net.Listen("tcp", addr); err == nil || try == 100 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	hub, err := newHistoryHub(tr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	srv := &service.Server{Handler: historyHandler(hub)}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		if name == "" {
			return // serving only
		}
		for i := 0; ctx.Err() == nil && i < 1_000_000; i++ {
			if r := hub.Room("h"); r != nil {
				_ = r.Broadcast(protocol.Text, fmt.Appendf(nil, "%s%d", name, i))
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	fmt.Printf("listening on %s\n", l.Addr())
	if err := srv.ServeUntil(ctx, l, 5*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	_ = tr.Close()
	return 0
}

// chaosClient is a reconnecting client of room "h" that records every
// message it receives, and resumes from the last one on each new
// connection.
type chaosClient struct {
	r *service.Redialer

	mu    sync.Mutex
	first uint64 // the offset of the first message it received
	last  room.Position
	texts []string // by offset, from first
	err   error    // the first gap, duplicate or unreadable message
}

func newChaosClient(ctx context.Context, url string) *chaosClient {
	cc := &chaosClient{}
	cc.r = service.Redial(ctx, url, &service.RedialOptions{
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		OnConnect: func(ctx context.Context, c *service.Conn) error {
			cc.mu.Lock()
			last := cc.last
			cc.mu.Unlock()
			if last.Offset == 0 {
				return c.Send(ctx, protocol.Text, []byte("join"))
			}
			return c.Send(ctx, protocol.Text, []byte("since "+last.String()))
		},
	})
	go cc.read(ctx)
	return cc
}

func (cc *chaosClient) read(ctx context.Context) {
	for {
		_, data, err := cc.r.Recv(ctx)
		if err != nil {
			return
		}
		pos, text, err := parseOffsetText(string(data))
		cc.mu.Lock()
		switch {
		case cc.err != nil:
		case err != nil:
			cc.err = err
		case cc.last.Offset != 0 && (pos.Epoch != cc.last.Epoch || pos.Offset != cc.last.Offset+1):
			cc.err = fmt.Errorf("offset %d %s after %d %s", pos.Offset, pos.Epoch, cc.last.Offset, cc.last.Epoch)
		default:
			if cc.last.Offset == 0 {
				cc.first = pos.Offset // joined then: the room's broadcasts may have begun
			}
			cc.last = pos
			cc.texts = append(cc.texts, text)
		}
		cc.mu.Unlock()
	}
}

func (cc *chaosClient) state() (room.Position, int, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.last, len(cc.texts), cc.err
}

// text returns the message at offset, if the client has it.
func (cc *chaosClient) text(offset uint64) (string, bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if offset < cc.first || offset >= cc.first+uint64(len(cc.texts)) {
		return "", false
	}
	return cc.texts[offset-cc.first], true
}

// TestHistoryChaos: three servers share a room whose history is in
// JetStream, two in this process and one in a child process, each
// broadcasting into it every 2ms and serving two reconnecting clients.
// The child is killed with SIGKILL mid-stream and started again on its
// address; then the NATS server is restarted; at the end the child is
// stopped and started again without broadcasting. Every client ends with
// every message of the room exactly once and in order (offsets 1 to the
// last, the same message at each offset for every client), and each
// server's messages in the order it sent them. (Each client from the
// message it joined at: the child broadcasts from its first member on.)
func TestHistoryChaos(t *testing.T) {
	wstest.Long(t)
	ns := natstest.StartJetStream(t, -1)
	url := ns.URL()
	a, b := startHistoryNode(t, url), startHistoryNode(t, url)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cAddr := l.Addr().String()
	_ = l.Close()
	child := startHistoryChild(t, url, cAddr, "c")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var clients []*chaosClient
	for _, base := range []string{a.base, b.base, "ws://" + cAddr} {
		for range 2 {
			cc := newChaosClient(ctx, base+"/")
			t.Cleanup(func() { _ = cc.r.Close() })
			clients = append(clients, cc)
		}
	}
	wstest.WaitFor(t, 30*time.Second, "every client to join", func() bool {
		ra, rb := a.hub.Room("h"), b.hub.Room("h")
		return ra != nil && rb != nil && ra.Len() == 2 && rb.Len() == 2 && clients[4].r.State() == service.RedialConnected && clients[5].r.State() == service.RedialConnected
	})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	sent := map[string]*[]string{"a": new([]string), "b": new([]string)} // what Broadcast accepted
	for name, n := range map[string]*historyNode{"a": a, "b": b} {
		wg.Go(func() {
			for i := 0; i < 100_000; i++ {
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
				text := fmt.Sprintf("%s%d", name, i)
				if n.hub.Room("h").Broadcast(protocol.Text, []byte(text)) == nil {
					*sent[name] = append(*sent[name], text)
				}
			}
		})
	}
	pause := func(d time.Duration) {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	pause(500 * time.Millisecond)
	_ = child.Process.Kill() // SIGKILL: no goodbye, no close frames
	_ = child.Wait()
	pause(500 * time.Millisecond)
	child = startHistoryChild(t, url, cAddr, "d") // the same server, started again
	pause(500 * time.Millisecond)
	ns.Stop()
	pause(300 * time.Millisecond)
	ns.Restart(t)
	pause(time.Second)
	close(stop)
	wg.Wait()
	// The child's last messages may not have reached its own clients
	// before it stopped: started again, quiet, it serves them.
	_ = child.Process.Signal(syscall.SIGTERM)
	_ = child.Wait()
	startHistoryChild(t, url, cAddr, "")

	// Every client catches up with the room's last message.
	var final uint64
	defer func() {
		if t.Failed() {
			for i, cc := range clients {
				last, n, err := cc.state()
				t.Logf("client %d: %s, at %v (%d messages), error %v; the room's last: %d", i, cc.r.State(), last, n, err, final)
			}
		}
	}()
	wstest.WaitFor(t, 30*time.Second, "every client to reach the room's last message", func() bool {
		head, _, err := a.tr.Read(t.Context(), "h", room.Position{}, 0)
		if err == nil || head.Offset == 0 {
			return false // a RecoveryError tells the head; the zero position is of no epoch
		}
		final = head.Offset
		for _, cc := range clients {
			if last, _, err := cc.state(); err != nil || last.Offset != final {
				return err != nil
			}
		}
		return true
	})
	// Each client has every message from the one it joined at to the
	// last, and at each offset the same message as every other client.
	want := make([]string, final+1)
	for i, cc := range clients {
		last, n, err := cc.state()
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		cc.mu.Lock()
		first := cc.first
		cc.mu.Unlock()
		if first+uint64(n)-1 != last.Offset || first > 50 {
			t.Fatalf("client %d: %d messages from offset %d to %d", i, n, first, last.Offset)
		}
		for off := first; off <= final; off++ {
			text, _ := cc.text(off)
			if want[off] == "" {
				want[off] = text
			} else if text != want[off] {
				t.Fatalf("client %d: %q at offset %d, another client has %q", i, text, off, want[off])
			}
		}
	}
	want = want[1:]
	for len(want) > 0 && want[0] == "" {
		want = want[1:] // before every client joined
	}
	// Each sender's messages in its order, none twice.
	next := map[byte]int{}
	for j, text := range want {
		var n int
		if _, err := fmt.Sscanf(text[1:], "%d", &n); err != nil {
			t.Fatalf("offset %d: %q", j+1, text)
		}
		if seen, ok := next[text[0]]; ok && n < seen {
			t.Fatalf("offset %d: %q after %c%d", j+1, text, text[0], seen-1)
		}
		next[text[0]] = n + 1
	}
	// Every broadcast that a and b saw accepted is there (one that
	// failed, while NATS was down, may be there too: its answer may be
	// what was lost).
	have := make(map[string]bool, len(want))
	for _, text := range want {
		have[text] = true
	}
	for name, texts := range sent {
		for _, text := range *texts {
			if !have[text] {
				t.Fatalf("%s's accepted broadcast %q reached no client (%d accepted)", name, text, len(*texts))
			}
		}
	}
	t.Logf("%d messages; from a, b, the child and the child started again: %d, %d, %d, %d (accepted from a and b: %d, %d)",
		final, next['a'], next['b'], next['c'], next['d'], len(*sent["a"]), len(*sent["b"]))
	for _, s := range []byte("abcd") {
		if next[s] == 0 {
			t.Errorf("no message from %c", s)
		}
	}
}
