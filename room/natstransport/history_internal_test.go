package natstransport

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"

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
