package room

import (
	"context"
	"time"

	"github.com/wsmap/wsmap/internal/prepared"
	"github.com/wsmap/wsmap/service"
)

// Resume adds c to the room as Join does, for a client that has already
// received the room's messages up to from (a position taken from the
// last message it got, see History.Encode): the member first receives
// every message after from that it missed, in order, then the live ones,
// with no gap and no duplicate between the two, however fast the room
// talks meanwhile. A position at the room's newest message joins live at
// once.
//
// When the room cannot do that, Resume returns a *RecoveryError (matching
// ErrUnrecoverable) and adds nothing: the room keeps no History, from is
// of another epoch (the room was made again since), its messages after
// from are no longer kept (aged out, or more than History.Size ago), or
// from is ahead of the room. The application then resynchronizes the
// client, typically by joining it with Join and sending it what it needs.
//
// A member that falls so far behind while catching up that the history
// no longer holds its next message is dropped as too slow (see
// ErrTooSlow).
//
// Over a HistoryTransport, from is checked against the Transport's
// history, and the member catches up from the messages this process
// keeps or from the Transport's, whichever holds them, on any process of
// the room.
//
// ctx bounds what Resume waits for: over a HistoryTransport, the reading
// of its history (5 seconds at most).
func (r *Room) Resume(ctx context.Context, c *service.Conn, meta map[string]string, from Position) (*Member, error) {
	return r.join(ctx, c, meta, &from)
}

// Position returns the position of the room's newest message: the one a
// client that has received every message so far would resume from. Its
// Offset is 0 before the first message; without History its Epoch is "".
func (r *Room) Position() Position {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hist.positionLocked()
}

// keepFor returns how much longer an empty room should be kept for its
// history: until its newest message is History.MaxAge old, if it keeps
// it itself.
func (r *Room) keepFor() time.Duration { return r.hist.keepFor() }

// The member's writer catches it up (history.catchUp) before it writes
// its queue: it writes the messages the member missed, from the
// history, then makes it live under the room's lock, when it has every
// message queued here, so that the next message it gets is the room's
// next broadcast.

// sendCaughtUp writes batch, which holds the member's messages of the
// next n of the history, and moves the member on past them, reporting
// false if it left.
func (m *Member) sendCaughtUp(ctx context.Context, batch []*prepared.Message, n int) bool {
	if len(batch) > 0 {
		err := m.send.Send(ctx, batch...)
		clear(batch)
		if err != nil {
			m.leave(err)
			return false
		}
	}
	m.next += uint64(n)
	return true
}
