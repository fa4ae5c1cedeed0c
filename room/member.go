package room

import (
	"context"
	"fmt"
	"maps"
	"sync/atomic"

	"github.com/wsmap/wsmap/internal/prepared"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// Member is a connection's membership of a room.
type Member struct {
	room  *Room
	conn  *service.Conn
	send  prepared.Sender // conn's
	info  MemberInfo
	queue chan *prepared.Message
	// backlog counts the messages queued for the member's writer and not
	// yet written; while it is zero, its shard may write to the member
	// itself (see shard.deliver).
	backlog atomic.Int64
	left    chan struct{} // closed when the member has left
	gone    atomic.Bool   // set when the member has left
	idx     int           // position in room.members; -1 once left
	shard   *shard        // nil while the member catches up (see Resume)
	slot    int           // position in shard.members
	joinSeq uint64        // the first broadcast the member receives live
	next    uint64        // while catching up: the offset of the next message from history
	epoch   string        // while catching up: the epoch of next
	why     error         // why it left (see Err); guarded by room.mu
}

// ID returns the member's ID, unique across processes.
func (m *Member) ID() string { return m.info.ID }

// Meta returns the metadata the member joined with. It must not be
// modified.
func (m *Member) Meta() map[string]string { return m.info.Meta }

// Info returns the member's description.
func (m *Member) Info() MemberInfo { return m.info }

// Conn returns the member's connection.
func (m *Member) Conn() *service.Conn { return m.conn }

// Room returns the room.
func (m *Member) Room() *Room { return m.room }

// Err reports why the member left: ErrTooSlow if the room dropped it for
// a full queue, ErrRoomClosed if the room was closed, the error of the
// write that failed if one did, and nil while it is a member or after it
// left by Leave or because its connection started closing.
func (m *Member) Err() error {
	m.room.mu.Lock()
	defer m.room.mu.Unlock()
	return m.why
}

// Join adds c to the room with the given metadata (copied). A goroutine
// writes the room's messages to c until the member leaves, which it does
// when Leave is called, when c starts closing, when a write fails, or when
// its queue overflows. Join waits for no Transport beyond handing it the
// member's arrival (Transport.Publish), which it leaves to the goroutine
// that is publishing the room's presence, if one is.
func (r *Room) Join(c *service.Conn, meta map[string]string) (*Member, error) {
	return r.join(context.Background(), c, meta, nil)
}

// join adds c to the room, live or, with from, catching up from the
// message after from.
func (r *Room) join(ctx context.Context, c *service.Conn, meta map[string]string, from *Position) (*Member, error) {
	send, ok := prepared.SenderOf(c.Context())
	if !ok || c.State() != service.StateOpen {
		return nil, ErrNotOpen
	}
	m := &Member{
		room:  r,
		conn:  c,
		send:  send,
		info:  MemberInfo{ID: newID(), Meta: maps.Clone(meta)},
		queue: make(chan *prepared.Message, r.queue),
		left:  make(chan struct{}),
	}
	if from != nil {
		if err := r.hist.recoverable(ctx, *from); err != nil {
			return nil, err
		}
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrRoomClosed
	}
	live := from == nil
	if from != nil {
		var err error
		if live, err = r.hist.admitLocked(*from); err != nil {
			r.mu.Unlock()
			return nil, err
		}
	}
	m.idx = len(r.members)
	r.members = append(r.members, m)
	r.byID[m.info.ID] = m
	if live {
		r.goLiveLocked(m)
	} else {
		m.next, m.epoch = from.Offset+1, from.Epoch // the writer catches up first
	}
	r.announceLocked(Event{Kind: Joined, Member: m.info})
	r.mu.Unlock()
	r.drain()
	go m.write()
	return m, nil
}

// goLiveLocked makes m receive the room's broadcasts from the next one.
func (r *Room) goLiveLocked(m *Member) {
	m.joinSeq = r.seq + 1
	m.shard = r.shardForLocked()
	m.shard.add(m)
}

// write sends the member's queued messages until it leaves.
func (m *Member) write() {
	ctx := m.conn.Context()
	// The member leaves when its connection starts closing; waiting for
	// that here as well would make every wait a three-way select.
	defer context.AfterFunc(ctx, m.Leave)()
	var batch []*prepared.Message
	if m.next > 0 && !m.room.hist.catchUp(ctx, m) {
		return
	}
	for {
		select {
		case pm := <-m.queue:
			// Messages queued meanwhile go out with it, in as few
			// writes as fit (see prepared.Sender).
			batch = append(batch[:0], pm)
		more:
			for len(batch) < maxBatch {
				select {
				case pm := <-m.queue:
					batch = append(batch, pm)
				default:
					break more
				}
			}
			err := m.send.Send(ctx, batch...)
			m.backlog.Add(-int64(len(batch)))
			clear(batch)
			if err != nil {
				m.leave(err)
				return
			}
		case <-m.left:
			return
		}
	}
}

// maxBatch bounds the messages a member's writer takes from its queue at
// once.
const maxBatch = 32

// Leave removes the member from the room; messages still queued are
// dropped. It does not close the connection. Calling it again does
// nothing.
func (m *Member) Leave() { m.leave(nil) }

// leave removes the member from the room, why being the reason (see Err).
func (m *Member) leave(why error) {
	r := m.room
	r.mu.Lock()
	if !r.removeLocked(m, why) {
		r.mu.Unlock()
		return
	}
	idle := len(r.members) == 0
	r.mu.Unlock()
	r.drain()
	if idle && r.onIdle != nil {
		r.onIdle(r)
	}
}

// removeLocked takes m out of the members, why being the reason it
// leaves, and reports whether it was in. The caller drains the outbox
// once it has released the lock.
func (r *Room) removeLocked(m *Member, why error) bool {
	if m.idx < 0 {
		return false
	}
	m.why = why
	last := len(r.members) - 1
	r.members[m.idx] = r.members[last]
	r.members[m.idx].idx = m.idx
	r.members[last] = nil
	r.members = r.members[:last]
	m.idx = -1
	if m.shard != nil {
		m.shard.remove(m)
	}
	delete(r.byID, m.info.ID)
	m.gone.Store(true)
	close(m.left)
	r.announceLocked(Event{Kind: Left, Member: m.info})
	return true
}

// Send queues a message for this member alone. It reaches the member
// after the broadcasts made in this process before it (whose Broadcast
// had returned) and, unless the member is catching up (see Resume),
// before those made after it.
func (m *Member) Send(typ protocol.MessageType, data []byte) error {
	pm, err := prepared.New(typ, data)
	if err != nil {
		return fmt.Errorf("room: %w", err)
	}
	r := m.room
	r.mu.Lock()
	if m.idx < 0 {
		r.mu.Unlock()
		return fmt.Errorf("room %q: member %s has left: %w", r.name, m.info.ID, service.ErrClosed)
	}
	if m.shard == nil {
		// Catching up: once it has caught up, before what the room
		// broadcasts after that.
		ok := m.queueAll([]*prepared.Message{pm})
		r.mu.Unlock()
		if !ok {
			r.drop([]*Member{m})
		}
		return nil
	}
	start := m.shard.enqueue(item{pm: pm, to: m})
	r.mu.Unlock()
	if start {
		m.shard.run(true)
	}
	return nil
}
