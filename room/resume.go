package room

import (
	"context"
	"time"

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
func (r *Room) Resume(c *service.Conn, meta map[string]string, from Position) (*Member, error) {
	return r.join(c, meta, &from)
}

// Position returns the position of the room's newest message: the one a
// client that has received every message so far would resume from. Its
// Offset is 0 before the first message; without History its Epoch is "".
func (r *Room) Position() Position {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.positionLocked()
}

func (r *Room) positionLocked() Position {
	p := Position{Offset: r.seq}
	if r.hist != nil {
		p.Epoch = r.hist.epoch
	}
	return p
}

// recoverableLocked returns the *RecoveryError that says why a member
// cannot resume from p, or nil if it can.
func (r *Room) recoverableLocked(p Position) error {
	reason := ""
	switch {
	case r.hist == nil:
		reason = "no history"
	case p.Epoch != r.hist.epoch:
		reason = "another epoch"
	case p.Offset > r.seq:
		reason = "ahead of the room"
	case p.Offset < r.seq:
		r.hist.expire()
		if first, ok := r.hist.oldest(); !ok || p.Offset+1 < first {
			reason = "aged out"
		}
	}
	if reason == "" {
		return nil
	}
	return &RecoveryError{Room: r.name, Position: p, Current: r.positionLocked(), Reason: reason}
}

// catchUp writes the messages the member missed, from the history, until
// it has caught up with the room, and then makes it live, under the
// room's lock, so that the next message it gets is the room's next
// broadcast. It reports false if the member left, or was dropped, on
// the way.
func (m *Member) catchUp(ctx context.Context) bool {
	r := m.room
	var batch []*service.PreparedMessage
	for {
		r.mu.Lock()
		if m.idx < 0 {
			r.mu.Unlock()
			return false
		}
		var kept bool
		batch, kept = r.hist.after(m.next-1, r.seq, maxBatch, batch[:0])
		switch {
		case !kept:
			// The room has talked past what its history keeps.
			r.mu.Unlock()
			r.drop([]*Member{m})
			return false
		case len(batch) == 0:
			r.goLiveLocked(m)
			r.mu.Unlock()
			return true
		}
		r.mu.Unlock()
		if err := m.conn.SendPrepared(ctx, batch...); err != nil {
			m.leave(err)
			return false
		}
		m.next += uint64(len(batch))
		clear(batch)
	}
}

// keepFor returns how much longer an empty room should be kept for its
// history: until its newest message is History.MaxAge old.
func (r *Room) keepFor() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hist == nil || r.closed {
		return 0
	}
	r.hist.expire()
	newest, ok := r.hist.newest()
	if !ok {
		return 0
	}
	return newest.Add(r.hist.maxAge).Sub(r.hist.now())
}
