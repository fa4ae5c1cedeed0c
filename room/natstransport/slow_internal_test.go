package natstransport

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsmap/wsmap/internal/natstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
)

// TestDroppedMessagesResynchronize: when NATS drops messages to a room's
// subscription because its process read them too slowly, the process
// reports nats.ErrSlowConsumer and synchronizes the room: it asks the
// others to announce their members again.
func TestDroppedMessagesResynchronize(t *testing.T) {
	t.Parallel()
	url := natstest.Start(t, -1).URL()
	opts := Options{HeartbeatInterval: 50 * time.Millisecond, PeerTimeout: time.Minute}

	// The sender: records the events delivered to it.
	sender, err := Connect(url, &opts)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	events := make(chan room.Event, 1000)
	detachS, err := sender.Attach(t.Context(), "r", func(e room.Event) { events <- e })
	if err != nil {
		t.Fatal(err)
	}
	defer detachS()

	// The slow one: its deliveries wait until let go, and its
	// subscription holds at most two messages.
	errs := make(chan error, 100)
	slowOpts := opts
	slowOpts.OnError = func(err error) { errs <- err }
	slow, err := Connect(url, &slowOpts, nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	release := make(chan struct{})
	detachW, err := slow.Attach(t.Context(), "r", func(room.Event) { <-release })
	if err != nil {
		t.Fatal(err)
	}
	defer detachW()
	slow.mu.RLock()
	a := slow.rooms["r"]
	slow.mu.RUnlock()
	if err := a.sub.SetPendingLimits(2, -1); err != nil {
		t.Fatal(err)
	}
	if err := slow.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	for i := range 20 {
		if err := sender.Publish(t.Context(), "r", room.Event{Kind: room.Message, Type: protocol.Text, Data: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sender.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrSlowConsumer) {
			t.Fatalf("reported %v, want nats.ErrSlowConsumer", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("dropped messages were not reported")
	}
	close(release)
	// The slow process's hello reaches the sender as a Sync: announce
	// your members again.
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-events:
			if e.Kind == room.Sync {
				return
			}
		case <-deadline:
			t.Fatal("the slow process did not synchronize the room")
		}
	}
}
