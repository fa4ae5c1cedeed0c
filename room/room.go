package room

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// Errors returned by Join and Broadcast, matchable with errors.Is.
var (
	// ErrRoomClosed is returned by operations on a closed room.
	ErrRoomClosed = errors.New("room: closed")
	// ErrNotOpen is returned by Join for a connection that is closing or
	// closed.
	ErrNotOpen = errors.New("room: connection not open")
	// ErrTooSlow is what Member.Err returns for a member the room dropped
	// because its queue overflowed (its connection is closed with
	// TooSlowCode and TooSlowReason).
	ErrTooSlow = errors.New("room: member dropped: " + TooSlowReason)
)

// DefaultQueueSize is the number of messages a member may have waiting
// before it is dropped, unless Options.QueueSize says otherwise.
const DefaultQueueSize = 64

// The close a member's connection gets when its queue overflows: 1008
// (policy violation) with this reason. Constants, so that no program can
// change what another one's members are told.
const (
	TooSlowCode   = protocol.ClosePolicyViolation
	TooSlowReason = "too slow: message queue full"
)

// Options configures a Room or a Hub's rooms; nil (or the zero value)
// means the defaults.
type Options struct {
	// QueueSize bounds the messages waiting to be written to one member.
	// Defaults to DefaultQueueSize.
	QueueSize int

	// Transport carries the room to other processes; nil keeps it in
	// this one.
	Transport Transport

	// History, if set, keeps the room's recent messages so that members
	// can resume from a position (see Room.Resume). It is kept in this
	// process, and cannot be combined with a Transport.
	History *History
}

// Room is a group of members that messages are broadcast to. It is safe
// for concurrent use.
type Room struct {
	name   string
	queue  int
	tr     Transport
	detach func()
	onIdle func(*Room) // a Hub's: called, unlocked, when the last member leaves

	mu      sync.Mutex
	members []*Member             // local members; Member.idx is the position
	shards  []*shard              // the live local members again, in shards (see fanout.go)
	seq     uint64                // broadcasts so far: the newest offset
	hist    *history              // nil without History
	remote  map[string]MemberInfo // members in other processes, by ID
	closed  bool
}

// New returns a room configured by opts; nil means the defaults. With a
// Transport, it is attached to it at once.
func New(name string, opts *Options) (*Room, error) {
	r := &Room{name: name}
	if opts != nil {
		r.queue, r.tr = opts.QueueSize, opts.Transport
	}
	if r.queue <= 0 {
		r.queue = DefaultQueueSize
	}
	if opts != nil && opts.History != nil {
		if r.tr != nil {
			return nil, fmt.Errorf("room %q: History is kept in this process and cannot be combined with a Transport", name)
		}
		h, err := newHistory(opts.History)
		if err != nil {
			return nil, fmt.Errorf("room %q: %w", name, err)
		}
		r.hist = h
	}
	if r.tr != nil {
		detach, err := r.tr.Attach(name, r.deliver)
		if err != nil {
			return nil, fmt.Errorf("room %q: attach: %w", name, err)
		}
		r.detach = detach
		if err := r.publish(Event{Kind: Sync}); err != nil {
			detach()
			return nil, err
		}
	}
	return r, nil
}

// Name returns the room's name.
func (r *Room) Name() string { return r.name }

// Member is a connection's membership of a room.
type Member struct {
	room  *Room
	conn  *service.Conn
	info  MemberInfo
	queue chan *service.PreparedMessage
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
// its queue overflows.
func (r *Room) Join(c *service.Conn, meta map[string]string) (*Member, error) {
	return r.join(c, meta, nil)
}

// join adds c to the room, live or, with from, catching up from the
// message after from.
func (r *Room) join(c *service.Conn, meta map[string]string, from *Position) (*Member, error) {
	if c.State() != service.StateOpen {
		return nil, ErrNotOpen
	}
	m := &Member{
		room:  r,
		conn:  c,
		info:  MemberInfo{ID: newID(), Meta: maps.Clone(meta)},
		queue: make(chan *service.PreparedMessage, r.queue),
		left:  make(chan struct{}),
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrRoomClosed
	}
	if from != nil {
		if err := r.recoverableLocked(*from); err != nil {
			r.mu.Unlock()
			return nil, err
		}
	}
	m.idx = len(r.members)
	r.members = append(r.members, m)
	if from != nil && from.Offset < r.seq {
		m.next = from.Offset + 1 // the writer catches up first
	} else {
		r.goLiveLocked(m)
	}
	// Presence events go out under the lock, so that other processes
	// see each member's Joined before its Left, and a Sync answer never
	// announces a member after it left.
	_ = r.publish(Event{Kind: Joined, Member: m.info})
	r.mu.Unlock()
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
	var batch []*service.PreparedMessage
	if m.next > 0 && !m.catchUp(ctx) {
		return
	}
	for {
		select {
		case pm := <-m.queue:
			// Messages queued meanwhile go out with it, in as few
			// writes as fit (see service.Conn.SendPrepared).
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
			err := m.conn.SendPrepared(ctx, batch...)
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
	if idle && r.onIdle != nil {
		r.onIdle(r)
	}
}

// removeLocked takes m out of the members, why being the reason it
// leaves, and reports whether it was in.
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
	m.gone.Store(true)
	close(m.left)
	_ = r.publish(Event{Kind: Left, Member: m.info})
	return true
}

// Send queues a message for this member alone.
func (m *Member) Send(typ protocol.MessageType, data []byte) error {
	pm, err := service.NewPreparedMessage(typ, data)
	if err != nil {
		return err
	}
	r := m.room
	r.mu.Lock()
	if m.idx < 0 {
		r.mu.Unlock()
		return fmt.Errorf("room %q: member %s has left: %w", r.name, m.info.ID, service.ErrClosed)
	}
	if m.shard == nil {
		// Catching up: after the history, before the live messages.
		ok := m.queueAll([]*service.PreparedMessage{pm})
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

// Broadcast sends a message to every member, here and, with a
// Transport, in other processes. It never waits for a member. A
// Transport's error is returned after local delivery.
func (r *Room) Broadcast(typ protocol.MessageType, data []byte) error {
	return r.broadcast(nil, typ, data)
}

// BroadcastFrom sends a message from member from to every other member.
func (r *Room) BroadcastFrom(from *Member, typ protocol.MessageType, data []byte) error {
	return r.broadcast(from, typ, data)
}

func (r *Room) broadcast(from *Member, typ protocol.MessageType, data []byte) error {
	var sender MemberInfo
	if from != nil {
		sender = from.info
	}
	m := message{from: sender, typ: typ, data: data}
	if r.hist == nil || r.hist.encode == nil {
		// Made before taking the lock; otherwise made under it, once
		// the message's position is known.
		pm, err := service.NewPreparedMessage(typ, data)
		if err != nil {
			return err
		}
		m.pm = pm
	}
	if err := r.fanOut(m, from); err != nil {
		return err
	}
	return r.publish(Event{Kind: Message, Member: sender, Type: typ, Data: data})
}

// message is a broadcast on its way to the members: pm, or, if nil, the
// message for History.Encode to make.
type message struct {
	pm   *service.PreparedMessage
	from MemberInfo
	typ  protocol.MessageType
	data []byte
}

// fanOut queues the message for every local member but except (see
// fanout.go), and keeps it in the history. Queuing it on every shard
// under the room's lock gives every member the room's messages in the
// same order, the order of their positions.
func (r *Room) fanOut(msg message, except *Member) error {
	var buf [8]*shard
	idle := buf[:0]
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrRoomClosed
	}
	pm := msg.pm
	if pm == nil {
		typ, data := r.hist.encode(Position{Epoch: r.hist.epoch, Offset: r.seq + 1}, msg.from, msg.typ, msg.data)
		var err error
		if pm, err = service.NewPreparedMessage(typ, data); err != nil {
			r.mu.Unlock()
			return fmt.Errorf("room %q: History.Encode: %w", r.name, err)
		}
	}
	r.seq++
	if r.hist != nil {
		r.hist.add(r.seq, pm)
	}
	it := item{pm: pm, seq: r.seq, except: except}
	for _, s := range r.shards {
		if s.enqueue(it) {
			idle = append(idle, s)
		}
	}
	r.mu.Unlock()
	startAll(idle)
	return nil
}

// deliver handles an event from another process.
func (r *Room) deliver(e Event) {
	switch e.Kind {
	case Message:
		pm, err := service.NewPreparedMessage(e.Type, e.Data)
		if err != nil {
			return
		}
		_ = r.fanOut(message{pm: pm}, nil)
	case Joined:
		r.mu.Lock()
		if r.remote == nil {
			r.remote = make(map[string]MemberInfo)
		}
		r.remote[e.Member.ID] = e.Member
		r.mu.Unlock()
	case Left:
		r.mu.Lock()
		delete(r.remote, e.Member.ID)
		r.mu.Unlock()
	case Sync:
		r.mu.Lock()
		for _, m := range r.members {
			_ = r.publish(Event{Kind: Joined, Member: m.info})
		}
		r.mu.Unlock()
	}
}

func (r *Room) publish(e Event) error {
	if r.tr == nil {
		return nil
	}
	if err := r.tr.Publish(r.name, e); err != nil {
		return fmt.Errorf("room %q: publish: %w", r.name, err)
	}
	return nil
}

// Len returns the number of members in this process.
func (r *Room) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.members)
}

// Members returns every member, here and in other processes, sorted by ID:
// the room's presence.
func (r *Room) Members() []MemberInfo {
	r.mu.Lock()
	out := make([]MemberInfo, 0, len(r.members)+len(r.remote))
	for _, m := range r.members {
		out = append(out, m.info)
	}
	for _, info := range r.remote {
		out = append(out, info)
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b MemberInfo) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Close detaches the room from its Transport and removes every member,
// without closing their connections. Later operations return
// ErrRoomClosed.
func (r *Room) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	for len(r.members) > 0 {
		r.removeLocked(r.members[len(r.members)-1], ErrRoomClosed)
	}
	r.mu.Unlock()
	r.detachTransport()
}

// closeIfEmpty closes the room if it has no members, reporting whether it
// did.
func (r *Room) closeIfEmpty() bool {
	r.mu.Lock()
	if r.closed || len(r.members) > 0 {
		r.mu.Unlock()
		return false
	}
	r.closed = true
	r.mu.Unlock()
	r.detachTransport()
	return true
}

func (r *Room) detachTransport() {
	if r.detach != nil {
		r.detach()
	}
}

// newID returns 64 random bits in hex.
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}
