package room_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/room/internal/roomtest"
	"github.com/wsmap/wsmap/service"
)

// bus is an in-memory Transport between several hubs of one test, each
// standing for a process. Each attached room gets events in the order
// they were published, from a goroutine of its own, as from a network.
type bus struct {
	mu    sync.Mutex
	subs  map[string]map[*sub]struct{} // by room
	log   []room.Event                 // everything published
	procs int
}

type sub struct {
	proc int
	ch   chan room.Event
	done chan struct{}
}

type procTransport struct {
	b    *bus
	proc int
}

// transport returns the Transport of one more process.
func (b *bus) transport() room.Transport {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.procs++
	return &procTransport{b: b, proc: b.procs}
}

func (p *procTransport) Attach(_ context.Context, name string, deliver func(room.Event)) (func(), error) {
	s := &sub{proc: p.proc, ch: make(chan room.Event, 10000), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for e := range s.ch {
			deliver(e)
		}
	}()
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	if p.b.subs == nil {
		p.b.subs = map[string]map[*sub]struct{}{}
	}
	if p.b.subs[name] == nil {
		p.b.subs[name] = map[*sub]struct{}{}
	}
	p.b.subs[name][s] = struct{}{}
	return func() {
		p.b.mu.Lock()
		delete(p.b.subs[name], s)
		close(s.ch)
		p.b.mu.Unlock()
		<-s.done
	}, nil
}

func (p *procTransport) Publish(_ context.Context, name string, e room.Event) error {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	p.b.log = append(p.b.log, e)
	for s := range p.b.subs[name] {
		if s.proc != p.proc {
			s.ch <- e
		}
	}
	return nil
}

func (b *bus) events() []room.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.log)
}

func nicks(infos []room.MemberInfo) []string {
	var out []string
	for _, m := range infos {
		out = append(out, m.Meta["nick"])
	}
	slices.Sort(out)
	return out
}

// TestPresenceUnderConcurrentJoinsAndLeaves joins and leaves members of
// two hubs (two processes) concurrently and checks the presence each
// side sees, and that every join has its leave.
func TestPresenceUnderConcurrentJoinsAndLeaves(t *testing.T) {
	t.Parallel()
	const n = 60
	var b bus
	hubs := []*room.Hub{roomtest.NewHub(t, &room.Options{Transport: b.transport()}), roomtest.NewHub(t, &room.Options{Transport: b.transport()})}
	bases := []string{serve(t, roomtest.Member(hubs[0], false)), serve(t, roomtest.Member(hubs[1], false))}
	// A member that never leaves keeps the room, so that presence from
	// the other side accumulates in it.
	anchor := []*service.Conn{dial(t, bases[0]+"/?nick=anchor0"), dial(t, bases[1]+"/?nick=anchor1")}
	wstest.WaitFor(t, 10*time.Second, "the anchors", func() bool {
		return hubs[0].Room("r") != nil && hubs[1].Room("r") != nil && len(hubs[0].Room("r").Members()) == 2
	})

	conns := dialAll(t, n, func(i int) string { return fmt.Sprintf("%s/?nick=m%02d", bases[i%2], i) })
	want := []string{"anchor0", "anchor1"}
	for i := range n {
		want = append(want, fmt.Sprintf("m%02d", i))
	}
	slices.Sort(want)
	for h := range hubs {
		wstest.WaitFor(t, 10*time.Second, "everyone present", func() bool {
			got := len(hubs[h].Room("r").Members())
			if got != n+2 {
				t.Logf("hub %d: %d members, %d local", h, got, hubs[h].Room("r").Len())
			}
			return got == n+2
		})
		if diff := cmp.Diff(want, nicks(hubs[h].Room("r").Members())); diff != "" {
			t.Errorf("hub %d presence (-want +got):\n%s", h, diff)
		}
	}

	// Half leave while the rest broadcast and presence is read.
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			if i%4 < 2 {
				_ = c.Close(protocol.CloseNormal, "")
				return
			}
			_ = c.Send(c.Context(), protocol.Text, []byte("hi"))
			_ = hubs[i%2].Room("r").Members()
		})
	}
	wg.Wait()
	want = []string{"anchor0", "anchor1"}
	for i := range n {
		if i%4 >= 2 {
			want = append(want, fmt.Sprintf("m%02d", i))
		}
	}
	slices.Sort(want)
	for h := range hubs {
		wstest.WaitFor(t, 10*time.Second, "the leavers gone", func() bool { return len(hubs[h].Room("r").Members()) == len(want) })
		if diff := cmp.Diff(want, nicks(hubs[h].Room("r").Members())); diff != "" {
			t.Errorf("hub %d presence after leaves (-want +got):\n%s", h, diff)
		}
	}

	// Everyone leaves: the rooms go away, and every join had one leave.
	for _, c := range append(conns, anchor...) {
		_ = c.Close(protocol.CloseNormal, "")
	}
	for h := range hubs {
		wstest.WaitFor(t, 10*time.Second, "the room to close", func() bool { return len(hubs[h].Rooms()) == 0 })
	}
	// Joined may be announced again (a Sync answered); Left is said
	// once, last.
	joins, leaves, last := map[string]int{}, map[string]int{}, map[string]room.EventKind{}
	for _, e := range b.events() {
		switch e.Kind {
		case room.Joined:
			joins[e.Member.ID]++
		case room.Left:
			leaves[e.Member.ID]++
		default:
			continue
		}
		last[e.Member.ID] = e.Kind
	}
	if len(joins) != n+2 {
		t.Errorf("%d members joined, want %d", len(joins), n+2)
	}
	for id := range joins {
		if leaves[id] != 1 || last[id] != room.Left {
			t.Errorf("member %s: %d leaves, last event %v", id, leaves[id], last[id])
		}
	}
}

// TestBroadcastAcrossProcesses: a message sent on one hub reaches the
// members of both, each once.
func TestBroadcastAcrossProcesses(t *testing.T) {
	t.Parallel()
	var b bus
	hubs := []*room.Hub{roomtest.NewHub(t, &room.Options{Transport: b.transport()}), roomtest.NewHub(t, &room.Options{Transport: b.transport()})}
	a1 := dial(t, serve(t, roomtest.Member(hubs[0], false))+"/?nick=a1")
	base1 := serve(t, roomtest.Member(hubs[1], false))
	b1, b2 := dial(t, base1+"/?nick=b1"), dial(t, base1+"/?nick=b2")
	wstest.WaitFor(t, 10*time.Second, "presence", func() bool { r := hubs[0].Room("r"); return r != nil && len(r.Members()) == 3 })
	ctx := t.Context()
	if err := a1.Send(ctx, protocol.Text, []byte("from a1")); err != nil {
		t.Fatal(err)
	}
	if _, data, err := b1.Recv(ctx); err != nil || string(data) != "from a1" {
		t.Fatalf("b1 got %q %v", data, err)
	}
	if err := hubs[1].Room("r").Broadcast(protocol.Text, []byte("server")); err != nil {
		t.Fatal(err)
	}
	if _, data, err := b1.Recv(ctx); err != nil || string(data) != "server" {
		t.Errorf("b1 got %q %v", data, err)
	}
	for name, c := range map[string]*service.Conn{"b2": b2} {
		var got []string
		for range 2 {
			_, data, err := c.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(data))
		}
		if diff := cmp.Diff([]string{"from a1", "server"}, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	// a1 gets the server's broadcast, not its own message back.
	if _, data, err := a1.Recv(ctx); err != nil || string(data) != "server" {
		t.Errorf("a1 got %q %v", data, err)
	}
}
