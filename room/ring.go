package room

import (
	"time"

	"github.com/wsmap/wsmap/internal/prepared"
)

// record is a message kept in a room's ring.
type record struct {
	offset uint64
	at     time.Time
	// pm is nil at a position that carries no message (see
	// localHistory.broadcastEncoded).
	pm   *prepared.Message
	from *Member // the local member that sent it with BroadcastFrom, if any
}

// ring is the messages a process keeps of a room's history, at most
// size records in offset order, none older than maxAge, all of one
// epoch; the room's lock guards it.
type ring struct {
	epoch  string
	size   int
	maxAge time.Duration
	now    func() time.Time // time.Now; tests replace it

	recs  []record
	start int // index of the oldest record
	n     int // records held
}

// newRing returns an empty ring for h, of epoch; h.Size must be positive
// (see Options.check).
func newRing(h *History, epoch string) ring {
	age := h.MaxAge
	if age <= 0 {
		age = DefaultHistoryAge
	}
	return ring{epoch: epoch, size: h.Size, maxAge: age, now: time.Now}
}

// add appends the message at offset, sent by from (nil for Broadcast or
// another process's member).
func (h *ring) add(offset uint64, pm *prepared.Message, from *Member) {
	rec := record{offset: offset, at: h.now(), pm: pm, from: from}
	if h.recs == nil {
		h.recs = make([]record, 0, min(h.size, 64))
	}
	switch {
	case h.n < h.size && len(h.recs) < h.size:
		// Still growing: the ring is in order from index 0.
		h.recs = append(h.recs, rec)
		h.n++
	case h.n < h.size:
		h.recs[(h.start+h.n)%h.size] = rec
		h.n++
	default:
		h.recs[h.start] = rec
		h.start = (h.start + 1) % h.size
	}
}

// reset forgets every record, for a history of another epoch.
func (h *ring) reset(epoch string) {
	clear(h.recs)
	h.recs, h.start, h.n = h.recs[:0], 0, 0
	h.epoch = epoch
}

// has reports whether the record at offset of epoch is kept.
func (h *ring) has(epoch string, offset uint64) bool {
	h.expire()
	first, ok := h.oldest()
	return ok && epoch == h.epoch && first <= offset && offset < first+uint64(h.n)
}

// expire forgets the records older than maxAge. A ring left empty
// starts again from index 0, where add expects a ring that is still
// growing to begin.
func (h *ring) expire() {
	cutoff := h.now().Add(-h.maxAge)
	for h.n > 0 && h.recs[h.start].at.Before(cutoff) {
		h.recs[h.start] = record{}
		h.start = (h.start + 1) % len(h.recs)
		h.n--
	}
	if h.n == 0 {
		h.recs, h.start = h.recs[:0], 0
	}
}

// oldest returns the offset of the oldest record kept, if any.
func (h *ring) oldest() (uint64, bool) {
	if h.n == 0 {
		return 0, false
	}
	return h.recs[h.start].offset, true
}

// newest returns the time of the newest record, if any.
func (h *ring) newest() (time.Time, bool) {
	if h.n == 0 {
		return time.Time{}, false
	}
	return h.recs[(h.start+h.n-1)%len(h.recs)].at, true
}

// after appends to out the messages of the records after offset for
// member m (every one but those m sent, and but the positions that carry
// none), from at most max records, and returns how many records it went
// through; it reports false if the record after offset is no longer kept
// (head is the room's newest offset).
func (h *ring) after(offset, head uint64, max int, m *Member, out []*prepared.Message) ([]*prepared.Message, int, bool) {
	h.expire()
	if offset >= head {
		return out, 0, true
	}
	first, ok := h.oldest()
	if !ok || offset+1 < first {
		return out, 0, false
	}
	n := 0
	for i := int(offset + 1 - first); i < h.n && n < max; i++ {
		if rec := h.recs[(h.start+i)%len(h.recs)]; rec.pm != nil && rec.from != m {
			out = append(out, rec.pm)
		}
		n++
	}
	return out, n, true
}
