package room

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wsmap/wsmap/protocol"
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
	p := Position{Offset: r.offsetLocked()}
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
	case p.Offset > r.offsetLocked():
		reason = "ahead of the room"
	case p.Offset < r.offsetLocked():
		r.hist.expire()
		if first, ok := r.hist.oldest(); !ok || p.Offset+1 < first {
			reason = "aged out"
		}
	}
	if reason == "" {
		return nil
	}
	return &RecoveryError{Room: r.name, Position: p, Current: r.positionLocked(), Reason: reason, Err: r.noHist}
}

// catchUp writes the messages the member missed, from the history, until
// it has caught up with the room, and then makes it live, under the
// room's lock, so that the next message it gets is the room's next
// broadcast. It reports false if the member left, or was dropped, on
// the way.
func (m *Member) catchUp(ctx context.Context) bool {
	if m.room.shared != nil {
		return m.catchUpShared(ctx)
	}
	r := m.room
	var batch []*service.PreparedMessage
	for {
		r.mu.Lock()
		if m.idx < 0 {
			r.mu.Unlock()
			return false
		}
		var n int
		var kept bool
		batch, n, kept = r.hist.after(m.next-1, r.offsetLocked(), maxBatch, m, batch[:0])
		switch {
		case !kept:
			// The room has talked past what its history keeps.
			r.mu.Unlock()
			r.drop([]*Member{m})
			return false
		case n == 0:
			r.goLiveLocked(m)
			r.mu.Unlock()
			return true
		}
		r.mu.Unlock()
		if !m.sendCaughtUp(ctx, batch, n) {
			return false
		}
	}
}

// sendCaughtUp writes batch, which holds the member's messages of the
// next n of the history, and moves the member on past them, reporting
// false if it left.
func (m *Member) sendCaughtUp(ctx context.Context, batch []*service.PreparedMessage, n int) bool {
	if len(batch) > 0 {
		err := m.conn.SendPrepared(ctx, batch...)
		clear(batch)
		if err != nil {
			m.leave(err)
			return false
		}
	}
	m.next += uint64(n)
	return true
}

// catchUpShared is catchUp from a HistoryTransport's history: from the
// messages this process keeps when they reach back far enough, else from
// the Transport's. The member goes live once it has exactly the messages
// delivered here, the newest included: every later one is delivered
// here after it, in order. When the member has every message the
// Transport's history holds and this process has not yet delivered them
// all (they are on their way), it waits for the next delivery here.
func (m *Member) catchUpShared(ctx context.Context) bool {
	r := m.room
	var batch []*service.PreparedMessage
	atHead := false // the last read found nothing after m.next-1
	for {
		r.mu.Lock()
		if m.idx < 0 {
			r.mu.Unlock()
			return false
		}
		same, local := r.hist.epoch == m.epoch, r.offsetLocked()
		var n int
		switch {
		case same && local == m.next-1:
			r.goLiveLocked(m)
			r.mu.Unlock()
			return true
		case same && local >= m.next && r.hist.has(m.epoch, m.next):
			batch, n, _ = r.hist.after(m.next-1, local, maxBatch, m, batch[:0])
			r.mu.Unlock()
		default:
			moved := r.movedLocked()
			r.mu.Unlock()
			if !atHead || !same || local >= m.next {
				var ok bool
				if batch, n, ok = m.readShared(batch[:0]); !ok {
					return false
				}
				atHead = n == 0
			}
			if !atHead {
				break
			}
			// The member has every message the Transport's history
			// holds: those this process has not delivered yet are on
			// their way. Meanwhile it has caught up, and gets what is
			// sent to it alone (Member.Send).
			select {
			case <-moved:
			case pm := <-m.queue:
				err := m.conn.SendPrepared(ctx, pm)
				m.backlog.Add(-1)
				if err != nil {
					m.leave(err)
					return false
				}
			case <-m.left:
				return false
			case <-ctx.Done():
				return false
			}
			continue
		}
		if !m.sendCaughtUp(ctx, batch, n) {
			return false
		}
	}
}

// sharedBatch bounds the messages a member catching up reads from a
// HistoryTransport at once.
const sharedBatch = 256

// readShared appends to batch the member's messages of those after its
// next in the Transport's history (every one but those it sent), and
// returns how many it read; on failure, the member is dropped
// (overtaken by the history's bounds) or leaves with the error, and ok
// is false.
func (m *Member) readShared(batch []*service.PreparedMessage) (_ []*service.PreparedMessage, n int, ok bool) {
	r := m.room
	_, evs, err := r.shared.Read(r.name, Position{Epoch: m.epoch, Offset: m.next - 1}, sharedBatch)
	if err != nil {
		if errors.Is(err, ErrUnrecoverable) {
			r.drop([]*Member{m})
		} else {
			m.leave(err)
			go func() { _ = m.conn.Close(protocol.CloseInternalError, "room history unavailable") }()
		}
		return nil, 0, false
	}
	for i, e := range evs {
		pm, err := service.NewPreparedMessage(e.Type, e.Data)
		if err != nil || e.Position.Offset != m.next+uint64(i) {
			// Append never makes such a message, nor gaps in a history.
			m.leave(fmt.Errorf("room %q: history at offset %d: %v", r.name, m.next+uint64(i), err))
			go func() { _ = m.conn.Close(protocol.CloseInternalError, "room history broken") }()
			return nil, 0, false
		}
		if e.Member.ID != m.info.ID {
			batch = append(batch, pm)
		}
	}
	return batch, len(evs), true
}

// keepFor returns how much longer an empty room should be kept for its
// history: until its newest message is History.MaxAge old.
func (r *Room) keepFor() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hist == nil || r.closed || r.shared != nil {
		return 0 // no history here, or one kept by the Transport
	}
	r.hist.expire()
	newest, ok := r.hist.newest()
	if !ok {
		return 0
	}
	return newest.Add(r.hist.maxAge).Sub(r.hist.now())
}
