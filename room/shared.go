package room

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wsmap/wsmap/internal/prepared"
	"github.com/wsmap/wsmap/protocol"
)

// sharedHistory is a room whose history a HistoryTransport keeps. Its
// broadcasts are not delivered at once: they are appended to the
// Transport's history, which gives each its position and delivers it to
// every process of the room, this one included, in the order of the
// positions. Every process thus gives its members the same messages at
// the same positions, and a member can resume on any of them. The
// newest messages delivered here are kept in the ring too, for members
// resuming from close behind.
//
// The room numbers the messages it delivers (r.seq) whatever their
// epoch, so that a live member, which receives the messages numbered
// from its joining on, goes on receiving them when the Transport's
// history begins a new epoch at offset 1: within an epoch, a message's
// number is base plus its offset.
type sharedHistory struct {
	r      *Room
	tr     HistoryTransport
	encode func(Position, MemberInfo, protocol.MessageType, []byte) (protocol.MessageType, []byte)

	// Guarded by the room's lock.
	ring ring   // its epoch is that of the newest message delivered here, "" before the first
	base uint64 // r.seq - base is the newest message's offset
}

func newSharedHistory(r *Room, tr HistoryTransport, h *History) *sharedHistory {
	return &sharedHistory{r: r, tr: tr, encode: h.Encode, ring: newRing(h, "")}
}

// offsetLocked returns the offset of the newest message delivered here,
// in the ring's epoch.
func (h *sharedHistory) offsetLocked() uint64 { return h.r.seq - h.base }

// broadcast appends a broadcast to the Transport's history, and waits
// for it to be delivered here (see awaitDelivery).
func (h *sharedHistory) broadcast(from *Member, typ protocol.MessageType, data []byte) error {
	r := h.r
	r.mu.Lock()
	closed, epoch := r.closed, h.ring.epoch
	r.mu.Unlock()
	if closed {
		return ErrRoomClosed
	}
	sender := senderInfo(from)
	ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
	defer cancel()
	pos, err := h.tr.Append(ctx, r.name, sender, func(pos Position) (protocol.MessageType, []byte, error) {
		t, d := typ, data
		if h.encode != nil {
			t, d = h.encode(pos, sender, typ, data)
		}
		if !t.Valid() {
			return 0, nil, fmt.Errorf("invalid message type %v", t)
		}
		return t, d, nil
	})
	if err != nil {
		return fmt.Errorf("room %q: %w", r.name, err)
	}
	h.awaitDelivery(pos, epoch)
	return nil
}

// deliveryPatience bounds how long a broadcast waits for the Transport
// to deliver it here.
const deliveryPatience = 5 * time.Second

// awaitDelivery waits until the message appended at pos has been
// delivered here, queued for the local members, so that what the
// broadcaster does next, such as sending one of them a message of its
// own (Member.Send), comes after it. It waits no longer once the room is
// closed, once it has gone on to an epoch other than pos's and than
// from, the one it was in before the append (the message was lost on its
// way here), or after deliveryPatience.
func (h *sharedHistory) awaitDelivery(pos Position, from string) {
	r := h.r
	var timeout <-chan time.Time
	for {
		r.mu.Lock()
		if r.closed || h.deliveredLocked(pos, from) {
			r.mu.Unlock()
			return
		}
		moved := r.movedLocked()
		r.mu.Unlock()
		if timeout == nil {
			timeout = time.After(deliveryPatience)
		}
		select {
		case <-moved:
		case <-timeout:
			return
		}
	}
}

// deliveredLocked reports whether the message at pos has been delivered
// here, or never will be (see awaitDelivery).
func (h *sharedHistory) deliveredLocked(pos Position, from string) bool {
	if h.ring.epoch == pos.Epoch {
		return h.offsetLocked() >= pos.Offset
	}
	return h.ring.epoch != from
}

// deliver gives a message from the Transport's history to the local
// members: once, in the order of the positions, from the sender's
// process to every member but the sender (see BroadcastFrom).
func (h *sharedHistory) deliver(e Event, pm *prepared.Message) {
	pos := e.Position
	if pos.Offset == 0 {
		return // not from a history
	}
	r := h.r
	var buf [8]*shard
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	var lost []*Member
	switch {
	case pos.Epoch != h.ring.epoch:
		// The first message here, or the Transport's history began
		// again: the kept messages are of another epoch, and the new
		// epoch's numbers follow the old one's.
		h.ring.reset(pos.Epoch)
		h.base = r.seq
	case pos.Offset <= h.offsetLocked():
		r.mu.Unlock()
		return // delivered already
	case pos.Offset > h.offsetLocked()+1:
		// Messages were lost on their way here: the Transport's history
		// let them go before this process received them. The live
		// members cannot have them: they are dropped as too slow, so
		// that their clients come back and are told, and what is kept
		// here begins again at this message.
		h.ring.reset(pos.Epoch)
		var live []*Member
		for _, m := range r.members {
			if m.shard != nil {
				live = append(live, m)
			}
		}
		lost = r.dropLocked(live)
	}
	r.seq = h.base + pos.Offset - 1
	var except *Member
	if e.Member.ID != "" {
		except = r.byID[e.Member.ID]
	}
	idle := r.queueLocked(pm, except, buf[:0])
	h.ring.add(pos.Offset, pm, except)
	emptied := len(lost) > 0 && len(r.members) == 0
	r.mu.Unlock()
	startAll(idle)
	r.closeDropped(lost, emptied)
}

// recoverable asks the Transport's history whether p can be recovered.
func (h *sharedHistory) recoverable(ctx context.Context, p Position) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, _, err := h.tr.Read(ctx, h.r.name, p, 0)
	return err
}

// admitLocked admits every member recoverable let through: it catches
// up from the Transport's history, and goes live once it has every
// message delivered here.
func (h *sharedHistory) admitLocked(Position) (bool, error) { return false, nil }

// catchUp is Member.catchUp from the Transport's history: from the
// messages this process keeps when they reach back far enough, else from
// the Transport's. The member goes live once it has exactly the messages
// delivered here, the newest included: every later one is delivered
// here after it, in order. When the member has every message the
// Transport's history holds and this process has not yet delivered them
// all (they are on their way), it waits for the next delivery here.
func (h *sharedHistory) catchUp(ctx context.Context, m *Member) bool {
	r := h.r
	var batch []*prepared.Message
	atHead := false // the last read found nothing after m.next-1
	for {
		r.mu.Lock()
		if m.idx < 0 {
			r.mu.Unlock()
			return false
		}
		same, local := h.ring.epoch == m.epoch, h.offsetLocked()
		var n int
		switch {
		case same && local == m.next-1:
			r.goLiveLocked(m)
			r.mu.Unlock()
			return true
		case same && local >= m.next && h.ring.has(m.epoch, m.next):
			batch, n, _ = h.ring.after(m.next-1, local, maxBatch, m, batch[:0])
			r.mu.Unlock()
		default:
			moved := r.movedLocked()
			r.mu.Unlock()
			if !atHead || !same || local >= m.next {
				var ok bool
				if batch, n, ok = h.read(ctx, m, batch[:0]); !ok {
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
				err := m.send.Send(ctx, pm)
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

// read appends to batch the member's messages of those after its next
// in the Transport's history (every one but those it sent), and returns
// how many it read; on failure, the member is dropped (overtaken by the
// history's bounds) or leaves with the error, and ok is false.
func (h *sharedHistory) read(ctx context.Context, m *Member, batch []*prepared.Message) (_ []*prepared.Message, n int, ok bool) {
	r := h.r
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	_, evs, err := h.tr.Read(ctx, r.name, Position{Epoch: m.epoch, Offset: m.next - 1}, sharedBatch)
	cancel()
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
		pm, err := prepared.New(e.Type, e.Data)
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

func (h *sharedHistory) positionLocked() Position {
	return Position{Epoch: h.ring.epoch, Offset: h.offsetLocked()}
}

// keepFor is 0: the Transport keeps the history, not the room.
func (h *sharedHistory) keepFor() time.Duration { return 0 }
