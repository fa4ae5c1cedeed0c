package room_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
)

// holdTransport is a Transport that records what is published to it,
// holding the first Joined until the test opens the gate.
type holdTransport struct {
	holding chan struct{} // closed when the first Joined is held
	gate    chan struct{} // closed by the test to let it through
	once    sync.Once

	mu     sync.Mutex
	events []room.Event
}

func (h *holdTransport) Attach(context.Context, string, func(room.Event)) (func(), error) {
	return func() {}, nil
}

func (h *holdTransport) Publish(_ context.Context, _ string, e room.Event) error {
	if e.Kind == room.Joined {
		h.once.Do(func() {
			close(h.holding)
			<-h.gate
		})
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, e)
	return nil
}

// presence returns the Joined and Left events published so far, each as
// its kind and the member's ID.
func (h *holdTransport) presence() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, e := range h.events {
		switch e.Kind {
		case room.Joined:
			out = append(out, "joined "+e.Member.ID)
		case room.Left:
			out = append(out, "left "+e.Member.ID)
		}
	}
	return out
}

// TestPresenceOutbox: a Transport's Publish that takes its time holds up
// the goroutine that publishes, not the room: while the first member's
// arrival is being published, another member joins, broadcasts are
// made, presence is read, and the other member leaves; the Transport is
// then given the arrivals and the departure in the order they happened.
func TestPresenceOutbox(t *testing.T) {
	t.Parallel()
	tr := &holdTransport{holding: make(chan struct{}), gate: make(chan struct{})}
	r, err := room.New("outbox", &room.Options{Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	members := make(chan *room.Member, 2)
	url := serve(t, joining(r, members))
	dial(t, url) // its Join publishes its arrival, held
	<-tr.holding
	c2 := dial(t, url)
	var m2 *room.Member
	within(t, 5*time.Second, "the room's methods while a Publish is held", func() {
		m2 = <-members
		if n := len(r.Members()); n != 2 {
			t.Errorf("%d members, want 2", n)
		}
		if err := r.Broadcast(protocol.Text, []byte("hi")); err != nil {
			t.Error(err)
		}
		m2.Leave()
	})
	if diff := cmp.Diff([]string{"hi"}, recvTexts(t, c2, 1)); diff != "" {
		t.Errorf("the second member (-want +got):\n%s", diff)
	}
	if got := tr.presence(); len(got) != 0 {
		t.Errorf("published while the first arrival is held: %q", got)
	}
	close(tr.gate)
	m1 := <-members
	want := []string{"joined " + m1.ID(), "joined " + m2.ID(), "left " + m2.ID()}
	wstest.WaitFor(t, 10*time.Second, "the presence published", func() bool { return len(tr.presence()) >= len(want) })
	if diff := cmp.Diff(want, tr.presence()); diff != "" {
		t.Errorf("presence published (-want +got):\n%s", diff)
	}
	r.Close()
	want = append(want, "left "+m1.ID())
	if diff := cmp.Diff(want, tr.presence()); diff != "" {
		t.Errorf("presence published once the room closed (-want +got):\n%s", diff)
	}
}
