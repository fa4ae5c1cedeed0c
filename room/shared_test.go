package room_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

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

func (h *handTransport) Attach(_ string, deliver func(room.Event)) (func(), error) {
	h.deliver = deliver
	return func() {}, nil
}

func (h *handTransport) Publish(string, room.Event) error { return nil }
func (h *handTransport) KeepHistory(room.History) error   { return h.keepErr }
func (h *handTransport) Read(name string, from room.Position, _ int) (room.Position, []room.Event, error) {
	return room.Position{}, nil, &room.RecoveryError{Room: name, Position: from, Reason: "no history"}
}

func (h *handTransport) Append(string, room.MemberInfo, func(room.Position) (protocol.MessageType, []byte, error)) (room.Position, error) {
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
	url := serve(t, &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		m, err := r.Join(c, nil)
		if err != nil {
			return err
		}
		members <- m
		_, _, err = c.Recv(ctx)
		return err
	})})
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
		_, err := r.Resume(c, nil, room.Position{Epoch: "e", Offset: 1})
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
