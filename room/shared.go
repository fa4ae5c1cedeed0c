package room

import (
	"fmt"
	"time"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// A room whose history a HistoryTransport keeps does not deliver its own
// broadcasts at once: it appends them to the Transport's history, which
// gives each its position and delivers it to every process of the room,
// this one included, in the order of the positions. Every process thus
// gives its members the same messages at the same positions, and a
// member can resume on any of them.

// broadcastShared appends a broadcast to the Transport's history, and
// waits for it to be delivered here (see awaitDelivery).
func (r *Room) broadcastShared(from MemberInfo, typ protocol.MessageType, data []byte) error {
	r.mu.Lock()
	closed, encode, epoch := r.closed, r.hist.encode, r.hist.epoch
	r.mu.Unlock()
	if closed {
		return ErrRoomClosed
	}
	pos, err := r.shared.Append(r.name, from, func(pos Position) (protocol.MessageType, []byte, error) {
		t, d := typ, data
		if encode != nil {
			t, d = encode(pos, from, typ, data)
		}
		if !t.Valid() {
			return 0, nil, fmt.Errorf("invalid message type %v", t)
		}
		return t, d, nil
	})
	if err != nil {
		return fmt.Errorf("room %q: %w", r.name, err)
	}
	r.awaitDelivery(pos, epoch)
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
func (r *Room) awaitDelivery(pos Position, from string) {
	var timeout <-chan time.Time
	r.mu.Lock()
	for !r.closed && !r.deliveredLocked(pos, from) {
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
		r.mu.Lock()
	}
	r.mu.Unlock()
}

// deliveredLocked reports whether the message at pos has been delivered
// here, or never will be (see awaitDelivery).
func (r *Room) deliveredLocked(pos Position, from string) bool {
	if r.hist.epoch == pos.Epoch {
		return r.offsetLocked() >= pos.Offset
	}
	return r.hist.epoch != from
}

// deliverShared gives a message from the Transport's history to the
// local members: once, in the order of the positions, from the sender's
// process to every member but the sender (see BroadcastFrom).
//
// The room numbers the messages it delivers (seq) whatever their epoch,
// so that a live member, which receives the messages numbered from its
// joining on, goes on receiving them when the Transport's history begins
// a new epoch at offset 1: within an epoch, a message's number is base
// plus its offset.
func (r *Room) deliverShared(e Event, pm *service.PreparedMessage) {
	pos := e.Position
	if pos.Offset == 0 {
		return // not from a history
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	var lost []*Member
	switch {
	case pos.Epoch != r.hist.epoch:
		// The first message here, or the Transport's history began
		// again: the kept messages are of another epoch, and the new
		// epoch's numbers follow the old one's.
		r.hist.reset(pos.Epoch)
		r.base = r.seq
	case pos.Offset <= r.offsetLocked():
		r.mu.Unlock()
		return // delivered already
	case pos.Offset > r.offsetLocked()+1:
		// Messages were lost on their way here: the Transport's history
		// let them go before this process received them. The live
		// members cannot have them: they are dropped as too slow, so
		// that their clients come back and are told, and what is kept
		// here begins again at this message.
		r.hist.reset(pos.Epoch)
		var live []*Member
		for _, m := range r.members {
			if m.shard != nil {
				live = append(live, m)
			}
		}
		lost = r.dropLocked(live)
	}
	r.seq = r.base + pos.Offset - 1
	var except *Member
	if e.Member.ID != "" {
		except = r.byID[e.Member.ID]
	}
	r.wakeLocked()
	idle := len(lost) > 0 && len(r.members) == 0
	_ = r.fanOutLocked(message{pm: pm}, except)
	r.closeDropped(lost, idle)
}

// offsetLocked returns the offset of the newest message delivered here,
// in the epoch of r.hist.
func (r *Room) offsetLocked() uint64 { return r.seq - r.base }

// movedLocked returns a channel closed at the next delivery here, or
// when the room is closed.
func (r *Room) movedLocked() <-chan struct{} {
	if r.moved == nil {
		r.moved = make(chan struct{})
	}
	return r.moved
}

// wakeLocked closes the channel movedLocked returned, if it made one.
func (r *Room) wakeLocked() {
	if r.moved != nil {
		close(r.moved)
		r.moved = nil
	}
}
