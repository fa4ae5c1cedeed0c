package room

import (
	"sync"

	"github.com/wsmap/wsmap/internal/prepared"
)

// A room's local members are spread over shards of at most shardSize
// members. A broadcast appends the message to every shard's queue, under
// the room's lock, so that all shards see the room's messages in the
// same order; each shard's queue is then worked through by one goroutine
// at a time, which writes to the shard's members. The broadcaster works
// through one shard itself and starts a goroutine for each other shard
// that was idle: a small room is written to from the broadcaster's
// goroutine with no hand-over at all, and a large one's writes are
// spread over the cores. A shard's goroutine takes the messages queued
// meanwhile together and writes them to each member with as few writes
// as fit (prepared.Sender's TrySend), which is what keeps a room
// under sustained load from paying a write per message per member.
const shardSize = 128

// shardBatch bounds the messages a shard takes from its queue at once.
const shardBatch = 64

// item is a message queued on a shard.
type item struct {
	pm *prepared.Message
	// seq is the room's broadcast number; a member receives broadcasts
	// from the one after its join.
	seq uint64
	// to, if not nil, is the only member the message is for (Member.Send);
	// except, if not nil, the member it is not for (BroadcastFrom).
	to, except *Member
}

// shard is a part of a room's local members and the messages queued for
// them.
type shard struct {
	room *Room

	mu      sync.Mutex
	members []*Member // changed under both the room's lock and mu
	pending []item
	running bool // a goroutine is working through pending

	// Owned by the goroutine working through pending.
	batch []item
	snap  []*Member
	msgs  []*prepared.Message
}

// shardForLocked returns the shard a joining member goes to: the first
// with room, or a new one.
func (r *Room) shardForLocked() *shard {
	for _, s := range r.shards {
		if len(s.members) < shardSize {
			return s
		}
	}
	s := &shard{room: r}
	r.shards = append(r.shards, s)
	return s
}

// add puts m in s; the room's lock is held.
func (s *shard) add(m *Member) {
	s.mu.Lock()
	m.slot = len(s.members)
	s.members = append(s.members, m)
	s.mu.Unlock()
}

// remove takes m out of s; the room's lock is held.
func (s *shard) remove(m *Member) {
	s.mu.Lock()
	last := len(s.members) - 1
	s.members[m.slot] = s.members[last]
	s.members[m.slot].slot = m.slot
	s.members[last] = nil
	s.members = s.members[:last]
	s.mu.Unlock()
}

// enqueue queues it on s, unless s has no member, and reports whether s
// was idle: the caller then works through it (run), as nobody else will.
func (s *shard) enqueue(it item) (start bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.members) == 0 {
		return false
	}
	s.pending = append(s.pending, it)
	if s.running {
		return false
	}
	s.running = true
	return true
}

// startAll works through the shards that enqueue found idle: the last on
// the calling goroutine, the others on goroutines of their own.
func startAll(idle []*shard) {
	if len(idle) == 0 {
		return
	}
	for _, s := range idle[:len(idle)-1] {
		go s.run(false)
	}
	idle[len(idle)-1].run(true)
}

// run works through s's queue until it is empty. Inline, on a
// broadcaster's goroutine, it writes one batch and hands what is queued
// after it to a goroutine of its own: other broadcasters could keep the
// queue from ever emptying, and a Broadcast call must end.
func (s *shard) run(inline bool) {
	for batches := 0; ; batches++ {
		s.mu.Lock()
		if len(s.pending) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		if inline && batches == 1 {
			s.mu.Unlock()
			go s.run(false)
			return
		}
		n := min(len(s.pending), shardBatch)
		s.batch = append(s.batch[:0], s.pending[:n]...)
		left := copy(s.pending, s.pending[n:])
		clear(s.pending[left:])
		s.pending = s.pending[:left]
		s.snap = append(s.snap[:0], s.members...)
		s.mu.Unlock()
		dropped := s.deliver()
		clear(s.batch)
		clear(s.snap)
		if len(dropped) > 0 {
			s.room.drop(dropped)
		}
	}
}

// deliver writes the batch to every member of the snapshot and returns
// the members whose queue overflowed.
func (s *shard) deliver() (dropped []*Member) {
	for _, m := range s.snap {
		if m.gone.Load() {
			continue
		}
		msgs := s.messagesFor(m)
		if len(msgs) == 0 {
			continue
		}
		// Nothing queued means nothing can be overtaken: the member's
		// writer counts a message out of the backlog only once it is
		// written.
		if m.backlog.Load() == 0 {
			msgs = msgs[m.send.TrySend(msgs...):]
		}
		if !m.queueAll(msgs) {
			dropped = append(dropped, m)
		}
	}
	clear(s.msgs)
	return dropped
}

// messagesFor returns the batch's messages for m.
func (s *shard) messagesFor(m *Member) []*prepared.Message {
	s.msgs = s.msgs[:0]
	for _, it := range s.batch {
		switch {
		case it.to != nil && it.to != m:
		case it.to == nil && (it.except == m || it.seq < m.joinSeq):
		default:
			s.msgs = append(s.msgs, it.pm)
		}
	}
	return s.msgs
}

// queueAll queues msgs for m's writer, reporting false if its queue
// overflowed.
func (m *Member) queueAll(msgs []*prepared.Message) bool {
	for _, pm := range msgs {
		m.backlog.Add(1)
		select {
		case m.queue <- pm:
		default:
			return false
		}
	}
	return true
}

// drop removes members whose queue overflowed and closes their
// connections.
func (r *Room) drop(members []*Member) {
	r.mu.Lock()
	dropped := r.dropLocked(members)
	idle := len(dropped) > 0 && len(r.members) == 0
	r.mu.Unlock()
	r.closeDropped(dropped, idle)
}

// dropLocked removes members as too slow and returns those that were
// in; the caller then calls closeDropped, once it has released the lock.
func (r *Room) dropLocked(members []*Member) []*Member {
	var dropped []*Member
	for _, m := range members {
		if r.removeLocked(m, ErrTooSlow) {
			dropped = append(dropped, m)
		}
	}
	return dropped
}

// closeDropped publishes the departures of members dropped as too slow,
// closes their connections, and tells the hub if the room is left idle;
// the room's lock is not held.
func (r *Room) closeDropped(dropped []*Member, idle bool) {
	if len(dropped) == 0 {
		return
	}
	r.drain()
	for _, m := range dropped {
		go func() { _ = m.conn.Close(TooSlowCode, TooSlowReason) }()
	}
	if idle && r.onIdle != nil {
		r.onIdle(r)
	}
}
