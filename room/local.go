package room

import (
	"context"
	"fmt"
	"time"

	"github.com/wsmap/wsmap/internal/prepared"
	"github.com/wsmap/wsmap/protocol"
)

// localHistory is a room that keeps its own history, in this process: a
// broadcast takes the room's next offset (the number of messages queued
// here, r.seq) as it is queued for the members, and is kept in the ring.
// Such a room has no Transport (see Options.check).
//
// With History.Encode, a broadcast's message is made knowing its
// position, and Encode runs without the room's lock: the broadcast takes
// its position under the lock, as a slot at the end of the pending ones,
// is encoded after it, and is queued for the members, under the lock
// again, once every slot before it is: by whichever broadcaster settles
// the oldest pending slot, for it and for every settled one after it. A
// broadcast returns once its own slot is queued, so that what its caller
// sends next (Member.Send) comes after it.
type localHistory struct {
	r      *Room
	epoch  string // chosen when the room is made
	encode func(Position, MemberInfo, protocol.MessageType, []byte) (protocol.MessageType, []byte)

	// Guarded by the room's lock.
	ring    ring
	pending []*slot // positions taken by broadcasts not yet queued, in order: r.seq+1, r.seq+2...
}

// slot is a position taken by a broadcast being encoded.
type slot struct {
	from    *Member
	pm      *prepared.Message // nil: the position carries no message
	settled bool              // pm is what the slot carries
	queued  bool
	done    chan struct{} // made by its broadcaster waiting for it to be queued, closed then
}

func newLocalHistory(r *Room, h *History) *localHistory {
	epoch := newID()
	return &localHistory{r: r, epoch: epoch, encode: h.Encode, ring: newRing(h, epoch)}
}

func (h *localHistory) broadcast(from *Member, typ protocol.MessageType, data []byte) error {
	if h.encode != nil {
		return h.broadcastEncoded(from, typ, data)
	}
	pm, err := prepared.New(typ, data)
	if err != nil {
		return fmt.Errorf("room: %w", err)
	}
	return h.queue(pm, from)
}

// broadcastEncoded is broadcast with History.Encode.
func (h *localHistory) broadcastEncoded(from *Member, typ protocol.MessageType, data []byte) (err error) {
	r := h.r
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrRoomClosed
	}
	s := &slot{from: from}
	h.pending = append(h.pending, s)
	pos := Position{Epoch: h.epoch, Offset: r.seq + uint64(len(h.pending))}
	r.mu.Unlock()
	var pm *prepared.Message
	// Settled even if Encode panics, so that the slots after it are
	// queued: the position then carries no message.
	defer func() { h.settle(s, pm) }()
	t, d := h.encode(pos, senderInfo(from), typ, data)
	if pm, err = prepared.New(t, d); err != nil {
		return fmt.Errorf("room %q: History.Encode: %w", r.name, err)
	}
	return nil
}

// deliver is never called by a Transport (the room has none); it queues
// the message as a broadcast.
func (h *localHistory) deliver(_ Event, pm *prepared.Message) { _ = h.queue(pm, nil) }

// queue keeps pm, from member from, at the room's next position, and
// queues it for the members: at once when no broadcast is being
// encoded, else after them.
func (h *localHistory) queue(pm *prepared.Message, from *Member) error {
	r := h.r
	var buf [8]*shard
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrRoomClosed
	}
	if len(h.pending) == 0 {
		idle := h.queueLocked(pm, from, buf[:0])
		r.mu.Unlock()
		startAll(idle)
		return nil
	}
	s := &slot{from: from}
	h.pending = append(h.pending, s)
	r.mu.Unlock()
	h.settle(s, pm)
	return nil
}

// settle records that s carries pm, queues for the members, in order,
// the settled slots from the oldest pending one on, and waits until s is
// queued.
func (h *localHistory) settle(s *slot, pm *prepared.Message) {
	r := h.r
	var buf [8]*shard
	idle := buf[:0]
	r.mu.Lock()
	s.pm, s.settled = pm, true
	n := 0
	for ; n < len(h.pending) && h.pending[n].settled; n++ {
		p := h.pending[n]
		idle = h.queueLocked(p.pm, p.from, idle)
		p.queued = true
		if p.done != nil {
			close(p.done)
		}
	}
	left := copy(h.pending, h.pending[n:])
	clear(h.pending[left:])
	h.pending = h.pending[:left]
	var wait chan struct{}
	if !s.queued {
		s.done = make(chan struct{})
		wait = s.done
	}
	r.mu.Unlock()
	startAll(idle)
	if wait != nil {
		<-wait
	}
}

// queueLocked keeps pm at the room's next offset and queues it for every
// member but from (see Room.queueLocked); a nil pm takes the offset
// without a message.
func (h *localHistory) queueLocked(pm *prepared.Message, from *Member, idle []*shard) []*shard {
	r := h.r
	if pm == nil {
		r.seq++
		r.wakeLocked()
	} else {
		idle = r.queueLocked(pm, from, idle)
	}
	h.ring.add(r.seq, pm, from)
	return idle
}

func (h *localHistory) recoverable(context.Context, Position) error { return nil }

func (h *localHistory) admitLocked(p Position) (bool, error) {
	r := h.r
	reason := ""
	switch {
	case p.Epoch != h.epoch:
		reason = "another epoch"
	case p.Offset > r.seq:
		reason = "ahead of the room"
	case p.Offset < r.seq:
		h.ring.expire()
		if first, ok := h.ring.oldest(); !ok || p.Offset+1 < first {
			reason = "aged out"
		}
	}
	if reason != "" {
		return false, &RecoveryError{Room: r.name, Position: p, Current: h.positionLocked(), Reason: reason}
	}
	return p.Offset == r.seq, nil
}

// catchUp writes the messages the member missed, from the ring, until it
// has caught up with the room, and then makes it live, under the room's
// lock, so that the next message it gets is the room's next broadcast.
// It reports false if the member left, or was dropped, on the way.
func (h *localHistory) catchUp(ctx context.Context, m *Member) bool {
	r := h.r
	var batch []*prepared.Message
	for {
		r.mu.Lock()
		if m.idx < 0 {
			r.mu.Unlock()
			return false
		}
		var n int
		var kept bool
		batch, n, kept = h.ring.after(m.next-1, r.seq, maxBatch, m, batch[:0])
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

func (h *localHistory) positionLocked() Position {
	return Position{Epoch: h.epoch, Offset: h.r.seq}
}

// keepFor returns how much longer an empty room should be kept for its
// history: until its newest message is History.MaxAge old.
func (h *localHistory) keepFor() time.Duration {
	r := h.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0
	}
	h.ring.expire()
	newest, ok := h.ring.newest()
	if !ok {
		return 0
	}
	return newest.Add(h.ring.maxAge).Sub(h.ring.now())
}
