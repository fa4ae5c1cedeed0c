package room

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// DefaultHistoryAge is how long a room keeps a message in its history
// unless History.MaxAge says otherwise.
const DefaultHistoryAge = 5 * time.Minute

// History configures the messages a room keeps so that a member that lost
// its connection can resume from the last position it saw (see
// Room.Resume).
type History struct {
	// Size bounds the messages kept; it must be positive (see
	// ErrInvalidOptions).
	Size int

	// MaxAge bounds how long a message is kept. Defaults to
	// DefaultHistoryAge. A Hub keeps an empty room with history until its
	// newest message is this old, so that its last member can come back.
	MaxAge time.Duration

	// Encode, if set, makes each broadcast into the message the members
	// receive, knowing its position: typically to put the position in
	// it, so that a client can tell the room where it stopped. from is
	// the sender (a zero MemberInfo for Broadcast). In a process's own
	// history it is called once per broadcast, in the order of the
	// positions, with the room's lock held; over a HistoryTransport, by
	// the Transport, once for each position it tries (another process
	// may take a position first). It must not call the room's methods.
	// Without it, members receive what was broadcast.
	Encode func(pos Position, from MemberInfo, typ protocol.MessageType, data []byte) (protocol.MessageType, []byte)
}

// Position is where a message stands in a room's history: its Offset is
// 1 for the room's first message and grows by one with each broadcast,
// within an Epoch, which changes whenever the history cannot be trusted
// to follow on from before (a room made again, a process restarted). The
// zero Position stands before every message of no epoch.
type Position struct {
	Epoch  string
	Offset uint64
}

// String returns the position's wire form, "epoch:offset", which
// ParsePosition reads: for example "f3a2c1d0e9b8a7f6:42". It needs no
// escaping in a URL's query.
func (p Position) String() string {
	return p.Epoch + ":" + strconv.FormatUint(p.Offset, 10)
}

// maxEpochLen bounds an epoch's length in a position's wire form.
const maxEpochLen = 64

// ParsePosition reads a position in its wire form (see Position.String).
// The epoch is 1 to 64 ASCII letters, digits, '-' or '_'; the offset a
// decimal number.
func ParsePosition(s string) (Position, error) {
	epoch, off, ok := strings.Cut(s, ":")
	if !ok {
		return Position{}, fmt.Errorf("room: position %q: want epoch:offset", s)
	}
	if epoch == "" || len(epoch) > maxEpochLen || strings.IndexFunc(epoch, notEpochRune) >= 0 {
		return Position{}, fmt.Errorf("room: position %q: the epoch must be 1 to %d letters, digits, '-' or '_'", s, maxEpochLen)
	}
	n, err := strconv.ParseUint(off, 10, 64)
	if err != nil || off[0] == '+' {
		return Position{}, fmt.Errorf("room: position %q: the offset must be a decimal number", s)
	}
	return Position{Epoch: epoch, Offset: n}, nil
}

func notEpochRune(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_')
}

// ErrUnrecoverable is matched (errors.Is) by the *RecoveryError that
// Resume returns when the room cannot give a member every message after
// its position.
var ErrUnrecoverable = errors.New("room: position cannot be recovered")

// ErrHistoryUnavailable is matched by the error of a HistoryTransport's
// KeepHistory that cannot keep histories as it is set up: a room made
// with History over it carries its messages without one.
var ErrHistoryUnavailable = errors.New("room: the Transport keeps no history")

// RecoveryError says why a position cannot be recovered: the application
// then resynchronizes the client, for example by joining it afresh and
// sending it the state it needs.
type RecoveryError struct {
	Room     string
	Position Position // the position asked for
	// Current is the room's newest position: a member that joins the
	// room afresh receives the messages after it. It is the zero
	// Position when there is no room to name (see Hub.Resume).
	Current Position
	Reason  string // "no history", "another epoch", "aged out" or "ahead of the room"
	// Err is, for "no history" over a HistoryTransport, why it keeps
	// none (such as natstransport.ErrNoJetStream).
	Err error
}

// Error describes the position and the reason, and where the room is
// unless Current is the zero Position.
func (e *RecoveryError) Error() string {
	s := fmt.Sprintf("room %q: position %s cannot be recovered: %s", e.Room, e.Position, e.Reason)
	if e.Current != (Position{}) {
		s += fmt.Sprintf(" (the room is at %s)", e.Current)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is reports whether target is ErrUnrecoverable.
func (e *RecoveryError) Is(target error) bool { return target == ErrUnrecoverable }

// Unwrap returns Err.
func (e *RecoveryError) Unwrap() error { return e.Err }

// record is a message in a room's history.
type record struct {
	offset uint64
	at     time.Time
	pm     *service.PreparedMessage
	from   *Member // the local member that sent it with BroadcastFrom, if any
}

// history is a room's kept messages, a ring of at most size records in
// offset order; the room's lock guards it.
type history struct {
	epoch  string
	size   int
	maxAge time.Duration
	encode func(Position, MemberInfo, protocol.MessageType, []byte) (protocol.MessageType, []byte)
	now    func() time.Time // time.Now; tests replace it

	ring  []record
	start int // index of the oldest record
	n     int // records held
}

// newHistory returns an empty history of a new epoch; h.Size must be
// positive (see Options.check).
func newHistory(h *History) *history {
	age := h.MaxAge
	if age <= 0 {
		age = DefaultHistoryAge
	}
	return &history{epoch: newID(), size: h.Size, maxAge: age, encode: h.Encode, now: time.Now}
}

// add appends the message at offset, sent by from (nil for Broadcast or
// another process's member).
func (h *history) add(offset uint64, pm *service.PreparedMessage, from *Member) {
	rec := record{offset: offset, at: h.now(), pm: pm, from: from}
	if h.ring == nil {
		h.ring = make([]record, 0, min(h.size, 64))
	}
	switch {
	case h.n < h.size && len(h.ring) < h.size:
		// Still growing: the ring is in order from index 0.
		h.ring = append(h.ring, rec)
		h.n++
	case h.n < h.size:
		h.ring[(h.start+h.n)%h.size] = rec
		h.n++
	default:
		h.ring[h.start] = rec
		h.start = (h.start + 1) % h.size
	}
}

// reset forgets every record, for a history of another epoch.
func (h *history) reset(epoch string) {
	clear(h.ring)
	h.ring, h.start, h.n = h.ring[:0], 0, 0
	h.epoch = epoch
}

// has reports whether the record at offset of epoch is kept.
func (h *history) has(epoch string, offset uint64) bool {
	h.expire()
	first, ok := h.oldest()
	return ok && epoch == h.epoch && first <= offset && offset < first+uint64(h.n)
}

// expire forgets the records older than maxAge. A ring left empty
// starts again from index 0, where add expects a ring that is still
// growing to begin.
func (h *history) expire() {
	cutoff := h.now().Add(-h.maxAge)
	for h.n > 0 && h.ring[h.start].at.Before(cutoff) {
		h.ring[h.start] = record{}
		h.start = (h.start + 1) % len(h.ring)
		h.n--
	}
	if h.n == 0 {
		h.ring, h.start = h.ring[:0], 0
	}
}

// oldest returns the offset of the oldest record kept, if any.
func (h *history) oldest() (uint64, bool) {
	if h.n == 0 {
		return 0, false
	}
	return h.ring[h.start].offset, true
}

// newest returns the time of the newest record, if any.
func (h *history) newest() (time.Time, bool) {
	if h.n == 0 {
		return time.Time{}, false
	}
	return h.ring[(h.start+h.n-1)%len(h.ring)].at, true
}

// after appends to out the messages of the records after offset for
// member m (every one but those m sent), from at most max records, and
// returns how many records it went through; it reports false if the
// record after offset is no longer kept (head is the room's newest
// offset).
func (h *history) after(offset, head uint64, max int, m *Member, out []*service.PreparedMessage) ([]*service.PreparedMessage, int, bool) {
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
		if rec := h.ring[(h.start+i)%len(h.ring)]; rec.from != m {
			out = append(out, rec.pm)
		}
		n++
	}
	return out, n, true
}
