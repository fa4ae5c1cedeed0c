package natstransport

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"

	"github.com/wsmap/wsmap/internal/natstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
)

// FuzzHistoryEvent: whatever headers a message of a history carries (a
// stream other programs can write to), historyEvent reads it or refuses
// it without panicking; what it reads has a position and a message type,
// and headers written by historyHeader read back as they were written.
func FuzzHistoryEvent(f *testing.F) {
	f.Add("e1", "1", "text", "", []byte("hi"))
	f.Add("f3a2c1d0e9b8a7f6", "18446744073709551615", "binary", "m1", []byte{0, 1})
	f.Add("", "0", "close", "x", []byte(nil))
	f.Add("e", "-1", "text", "", []byte(nil))
	f.Add("e", "1e3", "Text", "", []byte(nil))
	f.Fuzz(func(t *testing.T, epoch, offset, typ, member string, data []byte) {
		h := nats.Header{}
		h.Set(hdrEpoch, epoch)
		h.Set(hdrOffset, offset)
		h.Set(hdrType, typ)
		h.Set(hdrMember, member)
		e, err := historyEvent(h, data)
		if err != nil {
			return
		}
		if e.Kind != room.Message || e.Position.Epoch == "" || e.Position.Offset == 0 ||
			(e.Type != protocol.Text && e.Type != protocol.Binary) {
			t.Fatalf("historyEvent(%q, %q, %q) = %+v", epoch, offset, typ, e)
		}
		back, err := historyEvent(historyHeader(e.Position, e.Type, e.Member.ID), e.Data)
		if err != nil {
			t.Fatalf("what historyHeader wrote for %+v: %v", e, err)
		}
		if diff := cmp.Diff(e, back); diff != "" {
			t.Fatalf("read back (-first +second):\n%s", diff)
		}
	})
}

// TestHistoryCallsEndWithTheirContext: KeepHistory, Attach, Append and
// Read whose ctx has ended return its error and do nothing (an Attach
// that failed so leaves the room free to attach); an Append waiting for
// the room's append before it gives up when its ctx ends, and the next
// one goes on from where the room was.
func TestHistoryCallsEndWithTheirContext(t *testing.T) {
	t.Parallel()
	tr, err := Connect(natstest.StartJetStream(t, -1).URL(), &Options{HeartbeatInterval: 50 * time.Millisecond, PeerTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.KeepHistory(t.Context(), room.History{Size: 10}); err != nil {
		t.Fatal(err)
	}
	detach, err := tr.Attach(t.Context(), "r", func(room.Event) {})
	if err != nil {
		t.Fatal(err)
	}
	defer detach()
	encode := func(room.Position) (protocol.MessageType, []byte, error) { return protocol.Text, []byte("x"), nil }

	ended, cancel := context.WithCancel(t.Context())
	cancel()
	if err := tr.KeepHistory(ended, room.History{Size: 20}); !errors.Is(err, context.Canceled) {
		t.Errorf("KeepHistory with an ended ctx: %v, want context.Canceled", err)
	}
	if _, err := tr.Attach(ended, "s", func(room.Event) {}); !errors.Is(err, context.Canceled) {
		t.Errorf("Attach with an ended ctx: %v, want context.Canceled", err)
	}
	if detach, err := tr.Attach(t.Context(), "s", func(room.Event) {}); err != nil {
		t.Errorf("Attach after one that failed: %v", err)
	} else {
		detach()
	}
	if _, err := tr.Append(ended, "r", room.MemberInfo{}, encode); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with an ended ctx: %v, want context.Canceled", err)
	}
	if _, _, err := tr.Read(ended, "r", room.Position{Epoch: "e", Offset: 1}, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("Read with an ended ctx: %v, want context.Canceled", err)
	}

	tr.mu.RLock()
	a := tr.rooms["r"]
	tr.mu.RUnlock()
	a.hist.mu.TryLock() // an append of the room's on its way
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := tr.Append(ctx, "r", room.MemberInfo{}, encode); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Append behind another: %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Append behind another gave up after %v, its ctx after 50ms", d)
	}
	a.hist.mu.Unlock()
	pos, err := tr.Append(t.Context(), "r", room.MemberInfo{}, encode)
	if err != nil || pos.Offset != 1 {
		t.Errorf("Append: %v %v, want offset 1", pos, err)
	}
}
