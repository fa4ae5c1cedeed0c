package natstransport_test

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room/natstransport"
	"github.com/wsmap/wsmap/service"
)

// forgetWithin is how soon a process that died must be gone from the
// others' presence: PeerTimeout, one heartbeat for the sweep, and room
// for a loaded machine.
var forgetWithin = testOpts.PeerTimeout + testOpts.HeartbeatInterval + 2*time.Second

// TestKilledServerLeavesPresence: a wsmap server in another process is
// killed (SIGKILL: no goodbye, no leave announced); the other server
// removes its members from presence within forgetWithin, and its own
// members go on.
func TestKilledServerLeavesPresence(t *testing.T) {
	t.Parallel()
	ns := startNATS(t, -1)
	a := startNode(t, ns.URL())
	k := startChild(t, ns.URL())
	a1 := dial(t, a.base+"/?nick=a1")
	a2 := dial(t, a.base+"/?nick=a2")
	k1 := dial(t, k.base+"/?nick=k1")
	dial(t, k.base+"/?nick=k2")
	wstest.WaitFor(t, 5*time.Second, "a to see the child's members", func() bool {
		return cmp.Equal(a.members("r"), []string{"a1", "a2", "k1", "k2"})
	})
	if err := k1.Send(t.Context(), protocol.Text, []byte("from the child")); err != nil {
		t.Fatal(err)
	}
	if got := recvText(t, a1, 5*time.Second); got != "from the child" {
		t.Fatalf("a1 got %q", got)
	}
	if got := recvText(t, a2, 5*time.Second); got != "from the child" {
		t.Fatalf("a2 got %q", got)
	}

	if err := k.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	wstest.WaitFor(t, forgetWithin, "the killed server's members to leave a's presence", func() bool {
		return cmp.Equal(a.members("r"), []string{"a1", "a2"})
	})
	t.Logf("members of the killed server forgotten after %v (PeerTimeout %v)", time.Since(start).Round(time.Millisecond), testOpts.PeerTimeout)

	if err := a1.Send(t.Context(), protocol.Text, []byte("still talking")); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*service.Conn{"a1": a1, "a2": a2} {
		if got := recvText(t, c, 5*time.Second); got != "still talking" {
			t.Errorf("%s got %q", name, got)
		}
	}
}

// TestStalledServerComesBack: a server that stops answering (SIGSTOP)
// past PeerTimeout is forgotten; when it runs again (SIGCONT), its
// members come back into presence and messages flow both ways.
func TestStalledServerComesBack(t *testing.T) {
	t.Parallel()
	ns := startNATS(t, -1)
	a := startNode(t, ns.URL())
	k := startChild(t, ns.URL())
	a1 := dial(t, a.base+"/?nick=a1")
	k1 := dial(t, k.base+"/?nick=k1")
	wstest.WaitFor(t, 5*time.Second, "a to see k1", func() bool {
		return cmp.Equal(a.members("r"), []string{"a1", "k1"})
	})
	if err := k.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	wstest.WaitFor(t, forgetWithin, "the stalled server's member to leave a's presence", func() bool {
		return cmp.Equal(a.members("r"), []string{"a1"})
	})
	if err := k.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	wstest.WaitFor(t, 10*time.Second, "k1 back in a's presence", func() bool {
		return cmp.Equal(a.members("r"), []string{"a1", "k1"})
	})
	// Messages sent while the child was stopped may arrive late; what is
	// sent now arrives.
	if err := a1.Send(t.Context(), protocol.Text, []byte("welcome back")); err != nil {
		t.Fatal(err)
	}
	if got := recvText(t, a1, 5*time.Second); got != "welcome back" {
		t.Errorf("a1 got %q", got)
	}
	if got := recvText(t, k1, 5*time.Second); got != "welcome back" {
		t.Errorf("k1 got %q", got)
	}
}

// TestNATSRestart: the NATS server goes away and comes back on the same
// port. Meanwhile local members keep talking; a broadcast is buffered
// while its connection's reconnect buffer has room and reported to the
// sender once it is full; members join and leave. Once NATS is back,
// presence is right everywhere, and messages cross again, once each.
// An outage longer than PeerTimeout has each server forget the other's
// members meanwhile; after a shorter one, only the reconnection tells
// the servers that they missed announcements.
func TestNATSRestart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts natstransport.Options
	}{
		{"outage longer than PeerTimeout", testOpts},
		{"outage shorter than PeerTimeout", natstransport.Options{HeartbeatInterval: testOpts.HeartbeatInterval, PeerTimeout: time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testNATSRestart(t, tc.opts)
		})
	}
}

func testNATSRestart(t *testing.T, opts natstransport.Options) {
	ns := startNATS(t, -1)
	const bufSize = 4 << 10
	a := startNodeWith(t, ns.URL(), opts, nats.ReconnectBufSize(bufSize))
	b := startNodeWith(t, ns.URL(), opts)
	a1, a2 := dial(t, a.base+"/?nick=a1"), dial(t, a.base+"/?nick=a2")
	b1, b2 := dial(t, b.base+"/?nick=b1"), dial(t, b.base+"/?nick=b2")
	for _, n := range []*node{a, b} {
		wstest.WaitFor(t, 5*time.Second, "everyone everywhere", func() bool {
			return cmp.Equal(n.members("r"), []string{"a1", "a2", "b1", "b2"})
		})
	}

	ns.Stop()
	wstest.WaitFor(t, 5*time.Second, "both transports to see NATS gone", func() bool {
		return !a.tr.Conn().IsConnected() && !b.tr.Conn().IsConnected()
	})

	// Local members keep working.
	published := a.published.Load()
	if err := a1.Send(t.Context(), protocol.Text, []byte("local")); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*service.Conn{"a1": a1, "a2": a2} {
		if got := recvText(t, c, 5*time.Second); got != "local" {
			t.Fatalf("%s got %q during the outage", name, got)
		}
	}
	// a1's handler publishes "local" after delivering it here. Once it
	// has, "local" is buffered: the broadcasts below fill the buffer
	// after it, and one of them is refused, not "local" (whose error
	// would then reach a1 after them, before "while full").
	wstest.WaitFor(t, 5*time.Second, "a1's handler to publish \"local\"", func() bool {
		return a.published.Load() > published
	})
	// Broadcasts are buffered within the bound, then refused.
	msg := strings.Repeat("x", 1000)
	sent, full := 0, false
	for range 100 {
		err := a.hub.Room("r").Broadcast(protocol.Text, []byte(msg))
		sent++ // delivered locally, whatever the error
		if err != nil {
			if !errors.Is(err, nats.ErrReconnectBufExceeded) {
				t.Fatalf("broadcast %d: %v, want nats.ErrReconnectBufExceeded", sent, err)
			}
			full = true
			break
		}
	}
	if !full {
		t.Fatalf("%d KB broadcast while NATS was down, with a %d-byte buffer, and none refused", sent, bufSize)
	}
	if sent < bufSize/len(msg)-1 {
		t.Errorf("refused after %d broadcasts: the buffer should have taken about %d", sent, bufSize/len(msg))
	}
	t.Logf("%d broadcasts of 1000 bytes buffered, the next refused", sent-1)
	for name, c := range map[string]*service.Conn{"a1": a1, "a2": a2} {
		for i := range sent {
			if got := recvText(t, c, 5*time.Second); got != msg {
				t.Fatalf("%s: broadcast %d during the outage: got %.20q", name, i, got)
			}
		}
	}
	// A member's message is delivered locally, and the sender told.
	if err := a1.Send(t.Context(), protocol.Text, []byte("while full")); err != nil {
		t.Fatal(err)
	}
	if got := recvText(t, a1, 5*time.Second); got != "while full" {
		t.Errorf("a1 got %q", got)
	}
	if got := recvText(t, a1, 5*time.Second); !strings.HasPrefix(got, "error: ") || !strings.Contains(got, nats.ErrReconnectBufExceeded.Error()) {
		t.Errorf("a1 got %q, want the broadcast's error", got)
	}
	if got := recvText(t, a2, 5*time.Second); got != "while full" {
		t.Errorf("a2 got %q", got)
	}

	// Joins and leaves during the outage.
	a3 := dial(t, a.base+"/?nick=a3")
	b3 := dial(t, b.base+"/?nick=b3")
	if err := b1.Close(protocol.CloseNormal, ""); err != nil {
		t.Fatal(err)
	}
	if opts.PeerTimeout == testOpts.PeerTimeout {
		// Cut off, each server comes to see only its own members.
		wstest.WaitFor(t, forgetWithin, "a to see only its own members", func() bool {
			return cmp.Equal(a.members("r"), []string{"a1", "a2", "a3"})
		})
		wstest.WaitFor(t, forgetWithin, "b to see only its own members", func() bool {
			return cmp.Equal(b.members("r"), []string{"b2", "b3"})
		})
	} else {
		// Each keeps what it knew of the other, b1 included.
		// (a3's and b3's joins are made by their servers' handlers,
		// which may run after the dials return.)
		wstest.WaitFor(t, 5*time.Second, "b to see b3, and b1 gone", func() bool {
			return cmp.Equal(b.members("r"), []string{"a1", "a2", "b2", "b3"})
		})
		wstest.WaitFor(t, 5*time.Second, "a to see a3, and still b1", func() bool {
			return cmp.Equal(a.members("r"), []string{"a1", "a2", "a3", "b1", "b2"})
		})
	}

	ns.Restart(t)
	start := time.Now()
	for name, n := range map[string]*node{"a": a, "b": b} {
		wstest.WaitFor(t, 10*time.Second, name+" to see everyone after the restart", func() bool {
			return cmp.Equal(n.members("r"), []string{"a1", "a2", "a3", "b2", "b3"})
		})
	}
	t.Logf("presence whole again %v after NATS came back", time.Since(start).Round(time.Millisecond))

	if err := b2.Send(t.Context(), protocol.Text, []byte("after")); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*service.Conn{"a1": a1, "a2": a2, "a3": a3, "b2": b2, "b3": b3} {
		// What a buffered while NATS was down ("local" and the
		// broadcasts) may reach b's members late, if b resubscribed
		// before a flushed it; never twice.
		late := map[string]int{}
		for {
			got := recvText(t, c, 10*time.Second)
			if got == "after" {
				break
			}
			if got != msg && got != "local" || !strings.HasPrefix(name, "b") {
				t.Fatalf("%s got %.20q before \"after\"", name, got)
			}
			late[got]++
		}
		if late["local"] > 1 || late[msg] > sent-1 {
			t.Errorf("%s got \"local\" %d times and %d of the %d buffered broadcasts", name, late["local"], late[msg], sent-1)
		}
		quiet(t, c, 200*time.Millisecond, name)
		if len(late) > 0 {
			t.Logf("%s got %d messages buffered during the outage", name, late["local"]+late[msg])
		}
	}
}
