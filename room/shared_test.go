package room_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/service"
)

// handTransport is a HistoryTransport whose deliveries the test makes by
// hand, as if from other processes' appends.
type handTransport struct {
	deliver func(room.Event)
	keepErr error // what KeepHistory returns
}

func (h *handTransport) Attach(_ context.Context, _ string, deliver func(room.Event)) (func(), error) {
	h.deliver = deliver
	return func() {}, nil
}

func (h *handTransport) Publish(context.Context, string, room.Event) error { return nil }
func (h *handTransport) KeepHistory(context.Context, room.History) error   { return h.keepErr }
func (h *handTransport) Read(_ context.Context, name string, from room.Position, _ int) (room.Position, []room.Event, error) {
	return room.Position{}, nil, &room.RecoveryError{Room: name, Position: from, Reason: "no history"}
}

func (h *handTransport) Append(context.Context, string, room.MemberInfo, func(room.Position) (protocol.MessageType, []byte, error)) (room.Position, error) {
	return room.Position{}, errors.New("appends are made by hand in this test")
}

// TestSharedHistoryGap: when messages of a Transport's history are lost
// on their way to this process (an offset skipped), the live members,
// who cannot have them, are dropped as too slow instead of going on
// without them; a member that joins afterwards receives from there.
func TestSharedHistoryGap(t *testing.T) {
	t.Parallel()
	tr := &handTransport{}
	r, err := room.New("gap", &room.Options{Transport: tr, History: &room.History{Size: 10}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	members := make(chan *room.Member, 2)
	url := serve(t, joining(r, members))
	message := func(offset uint64) room.Event {
		return room.Event{Kind: room.Message, Type: protocol.Text, Data: []byte{'0' + byte(offset)},
			Position: room.Position{Epoch: "e", Offset: offset}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	expect := func(c *service.Conn, want string) {
		t.Helper()
		if _, data, err := c.Recv(ctx); err != nil || string(data) != want {
			t.Fatalf("got %q %v, want %q", data, err, want)
		}
	}

	c := dial(t, url)
	m := <-members
	tr.deliver(message(1))
	tr.deliver(message(2))
	tr.deliver(message(2)) // again: delivered once
	expect(c, "1")
	expect(c, "2")
	tr.deliver(message(5)) // 3 and 4 lost
	_, _, err = c.Recv(ctx)
	if code, _ := service.CloseStatus(err); code != room.TooSlowCode {
		t.Fatalf("after a gap: %v, want a close with %d", err, room.TooSlowCode)
	}
	if !errors.Is(m.Err(), room.ErrTooSlow) {
		t.Errorf("the member's Err after a gap: %v, want ErrTooSlow", m.Err())
	}
	if got := r.Position(); got != (room.Position{Epoch: "e", Offset: 5}) {
		t.Errorf("Position after the gap: %v, want e:5", got)
	}

	later := dial(t, url)
	<-members
	tr.deliver(message(6))
	expect(later, "6")
}

// TestSharedHistoryUnavailable: a Transport that cannot keep histories as
// it is set up (ErrHistoryUnavailable) gives a room without one, whose
// Resume says why; any other failure of KeepHistory fails New, rather
// than give a room whose members would get messages without positions.
func TestSharedHistoryUnavailable(t *testing.T) {
	t.Parallel()
	why := fmt.Errorf("no store here: %w", room.ErrHistoryUnavailable)
	r, err := room.New("plain", &room.Options{Transport: &handTransport{keepErr: why}, History: &room.History{Size: 10}})
	if err != nil {
		t.Fatalf("New over a Transport that keeps no history: %v", err)
	}
	defer r.Close()
	errc := make(chan error, 1)
	dial(t, serve(t, &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		_, err := r.Resume(ctx, c, nil, room.Position{Epoch: "e", Offset: 1})
		errc <- err
		return nil
	})}))
	var re *room.RecoveryError
	if err := <-errc; !errors.As(err, &re) || re.Reason != "no history" || !errors.Is(err, why) {
		t.Errorf("Resume: %v, want a RecoveryError for no history, wrapping why", err)
	}

	broken := errors.New("stream: timeout")
	if _, err := room.New("broken", &room.Options{Transport: &handTransport{keepErr: broken}, History: &room.History{Size: 10}}); !errors.Is(err, broken) {
		t.Errorf("New over a Transport whose KeepHistory failed: %v, want that error", err)
	}
}

// laterTransport is a HistoryTransport that delivers what is appended
// to it a while after Append returns, as one over a network does, from
// a goroutine of its own, in order.
type laterTransport struct {
	handTransport
	mu     sync.Mutex
	offset uint64
	queue  chan room.Event
	done   chan struct{}
}

func newLaterTransport() *laterTransport {
	return &laterTransport{queue: make(chan room.Event, 1000), done: make(chan struct{})}
}

func (l *laterTransport) Attach(_ context.Context, _ string, deliver func(room.Event)) (func(), error) {
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for {
			select {
			case e := <-l.queue:
				time.Sleep(time.Millisecond)
				deliver(e)
			case <-l.done:
				return
			}
		}
	}()
	return func() { close(l.done); <-ended }, nil
}

func (l *laterTransport) Append(_ context.Context, _ string, from room.MemberInfo, encode func(room.Position) (protocol.MessageType, []byte, error)) (room.Position, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	pos := room.Position{Epoch: "e", Offset: l.offset + 1}
	typ, data, err := encode(pos)
	if err != nil {
		return room.Position{}, err
	}
	l.offset++
	l.queue <- room.Event{Kind: room.Message, Member: from, Type: typ, Data: data, Position: pos}
	return pos, nil
}

// TestSharedHistorySendAfterBroadcast: over a HistoryTransport, which
// delivers a broadcast to this process after Append returns, what a
// goroutine sends a member with Member.Send after a broadcast still
// reaches the member after that broadcast, and before the next one.
func TestSharedHistorySendAfterBroadcast(t *testing.T) {
	t.Parallel()
	r, err := room.New("later", &room.Options{Transport: newLaterTransport(), History: &room.History{Size: 100}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	members := make(chan *room.Member, 1)
	url := serve(t, joining(r, members))
	c := dial(t, url)
	m := <-members
	const rounds = 20
	var want []string
	for i := range rounds {
		b, s := fmt.Sprintf("broadcast %d", i), fmt.Sprintf("send %d", i)
		if err := r.Broadcast(protocol.Text, []byte(b)); err != nil {
			t.Fatal(err)
		}
		if err := m.Send(protocol.Text, []byte(s)); err != nil {
			t.Fatal(err)
		}
		want = append(want, b, s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	for range 2 * rounds {
		_, data, err := c.Recv(ctx)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, string(data))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the member's messages (-want +got):\n%s", diff)
	}
}

// heldTransport is a HistoryTransport that takes appends and delivers
// none of them.
type heldTransport struct{ handTransport }

func (*heldTransport) Append(context.Context, string, room.MemberInfo, func(room.Position) (protocol.MessageType, []byte, error)) (room.Position, error) {
	return room.Position{Epoch: "e", Offset: 1}, nil
}

// TestSharedHistoryBroadcastWaitsForDelivery: over a HistoryTransport,
// Broadcast returns once its message has been delivered here; closing
// the room ends the wait.
func TestSharedHistoryBroadcastWaitsForDelivery(t *testing.T) {
	t.Parallel()
	r, err := room.New("held", &room.Options{Transport: &heldTransport{}, History: &room.History{Size: 10}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Broadcast(protocol.Text, []byte("x")) }()
	select {
	case err := <-done:
		t.Fatalf("Broadcast returned (%v) before its message was delivered", err)
	case <-time.After(100 * time.Millisecond):
	}
	r.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Broadcast: %v, want nil (the message was appended)", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Broadcast still waits after Close")
	}
}

// joining is a handler that joins r, hands the member to members, and
// serves until the client leaves.
func joining(r *room.Room, members chan<- *room.Member) http.Handler {
	return &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		m, err := r.Join(c, nil)
		if err != nil {
			return err
		}
		members <- m
		_, _, err = c.Recv(ctx)
		return err
	})}
}
