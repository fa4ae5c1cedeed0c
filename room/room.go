package room

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/wsmap/wsmap/internal/prepared"
	"github.com/wsmap/wsmap/protocol"
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
	// can resume from a position (see Room.Resume): in this process, or,
	// over a Transport, in the Transport, which must then be a
	// HistoryTransport.
	History *History
}

// ErrInvalidOptions is matched (errors.Is) by the error of New and
// NewHub for Options that no room can be made with: a History whose Size
// is not positive, or a History over a Transport that is not a
// HistoryTransport.
var ErrInvalidOptions = errors.New("room: invalid options")

// check returns an error matching ErrInvalidOptions if no room can be
// made with o.
func (o *Options) check() error {
	if o == nil || o.History == nil {
		return nil
	}
	if o.History.Size <= 0 {
		return fmt.Errorf("%w: History.Size is %d, it must be positive", ErrInvalidOptions, o.History.Size)
	}
	if _, ok := o.Transport.(HistoryTransport); o.Transport != nil && !ok {
		return fmt.Errorf("%w: History over a Transport needs a HistoryTransport, which %T is not", ErrInvalidOptions, o.Transport)
	}
	return nil
}

// Room is a group of members that messages are broadcast to. It is safe
// for concurrent use.
type Room struct {
	name   string
	queue  int
	tr     Transport     // nil: the room lives in this process
	hist   history       // what the room does with its broadcasts; set by New
	detach func()        // the Transport's, once attached
	onIdle func(*Room)   // a Hub's: called, unlocked, when the last member leaves
	onGone func(*Room)   // a Hub's: called once the room is closed and detached
	gone   chan struct{} // closed once the room is closed and detached (see outbox.go)

	mu      sync.Mutex
	members []*Member             // local members; Member.idx is the position
	shards  []*shard              // the live local members again, in shards (see fanout.go)
	byID    map[string]*Member    // local members by ID
	seq     uint64                // messages queued here so far: the newest one's number
	moved   chan struct{}         // closed when the next message is queued here, if made (see movedLocked)
	remote  map[string]MemberInfo // members in other processes, by ID
	out     outbox                // presence events on their way to the Transport
	closed  bool
}

// New returns a room configured by opts; nil means the defaults. With a
// Transport, it is attached to it at once, each call to the Transport
// taking at most 5 seconds. Options that no room can be made with return
// an error matching ErrInvalidOptions.
func New(name string, opts *Options) (*Room, error) {
	return newRoom(context.Background(), name, opts, nil)
}

// newRoom is New, the calls to the Transport ending as well when ctx
// does; hub, if not nil, is told when the room empties and when it is
// gone.
func newRoom(ctx context.Context, name string, opts *Options, hub *Hub) (*Room, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	r := &Room{name: name, gone: make(chan struct{}), byID: make(map[string]*Member)}
	if hub != nil {
		r.onIdle, r.onGone = hub.idle, hub.gone
	}
	var h *History
	if opts != nil {
		r.queue, r.tr, h = opts.QueueSize, opts.Transport, opts.History
	}
	if r.queue <= 0 {
		r.queue = DefaultQueueSize
	}
	switch ht, _ := r.tr.(HistoryTransport); {
	case h == nil:
		r.hist = &noHistory{r: r}
	case r.tr == nil:
		r.hist = newLocalHistory(r, h)
	default:
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		err := ht.KeepHistory(cctx, *h)
		cancel()
		switch {
		case errors.Is(err, ErrHistoryUnavailable):
			r.hist = &noHistory{r: r, why: err}
		case err != nil:
			return nil, fmt.Errorf("room %q: history: %w", name, err)
		default:
			r.hist = newSharedHistory(r, ht, h)
		}
	}
	if r.tr == nil {
		return r, nil
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	detach, err := r.tr.Attach(cctx, name, r.deliver)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("room %q: attach: %w", name, err)
	}
	r.detach = detach
	if err := r.publish(ctx, Event{Kind: Sync}); err != nil {
		detach()
		return nil, err
	}
	return r, nil
}

// Name returns the room's name.
func (r *Room) Name() string { return r.name }

// Broadcast sends a message to every member, here and, with a
// Transport, in other processes. It never waits for a member. A
// Transport's error is returned after local delivery. Over a
// HistoryTransport, which delivers the message here as well, it returns
// once it has done so (or after 5 seconds without), so that what the
// caller does next, such as a Member.Send, comes after the message, as
// in a room without one; the append to the Transport's history takes
// at most 10 seconds.
func (r *Room) Broadcast(typ protocol.MessageType, data []byte) error {
	return r.hist.broadcast(nil, typ, data)
}

// BroadcastFrom sends a message from member from to every other member.
// A member catching up (see Resume) does not receive what it broadcasts
// this way from the history either.
func (r *Room) BroadcastFrom(from *Member, typ protocol.MessageType, data []byte) error {
	return r.hist.broadcast(from, typ, data)
}

// fanOut queues pm for every local member but except (see fanout.go).
func (r *Room) fanOut(pm *prepared.Message, except *Member) error {
	var buf [8]*shard
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrRoomClosed
	}
	idle := r.queueLocked(pm, except, buf[:0])
	r.mu.Unlock()
	startAll(idle)
	return nil
}

// queueLocked numbers pm as the room's next message and queues it on
// every shard, for every local member but except, appending to idle the
// shards that were idle: the caller starts them (startAll) once it has
// released the lock. Queuing every message on every shard under the
// room's lock gives every member the room's messages in the same order.
func (r *Room) queueLocked(pm *prepared.Message, except *Member, idle []*shard) []*shard {
	r.seq++
	r.wakeLocked()
	it := item{pm: pm, seq: r.seq, except: except}
	for _, s := range r.shards {
		if s.enqueue(it) {
			idle = append(idle, s)
		}
	}
	return idle
}

// senderInfo returns the description of a broadcast's sender: from's, or
// the zero MemberInfo for the room itself.
func senderInfo(from *Member) MemberInfo {
	if from == nil {
		return MemberInfo{}
	}
	return from.info
}

// publishMessage hands a broadcast to the Transport, if there is one.
func (r *Room) publishMessage(from *Member, typ protocol.MessageType, data []byte) error {
	if r.tr == nil {
		return nil
	}
	return r.publish(context.Background(), Event{Kind: Message, Member: senderInfo(from), Type: typ, Data: data})
}

// publish hands e to the Transport, within callTimeout and ctx.
func (r *Room) publish(ctx context.Context, e Event) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if err := r.tr.Publish(ctx, r.name, e); err != nil {
		return fmt.Errorf("room %q: publish: %w", r.name, err)
	}
	return nil
}

// deliver handles an event from another process.
func (r *Room) deliver(e Event) {
	switch e.Kind {
	case Message:
		pm, err := prepared.New(e.Type, e.Data)
		if err != nil {
			return
		}
		r.hist.deliver(e, pm)
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
		if !r.closed {
			for _, m := range r.members {
				r.announceLocked(Event{Kind: Joined, Member: m.info})
			}
		}
		r.mu.Unlock()
		r.drain()
	}
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

// Close removes every member, without closing their connections, and
// detaches the room from its Transport, once the Transport has been
// given their departures. Later operations return ErrRoomClosed.
// Calling it again waits for the first call to be done.
func (r *Room) Close() {
	r.mu.Lock()
	if !r.closed {
		r.closeLocked()
		for len(r.members) > 0 {
			r.removeLocked(r.members[len(r.members)-1], ErrRoomClosed)
		}
	}
	r.mu.Unlock()
	r.drain()
	<-r.gone
}

// closeIfEmpty closes the room if it has no members, reporting whether
// it did; the room is then detached from its Transport (see outbox.go)
// without waiting for it here.
func (r *Room) closeIfEmpty() bool {
	r.mu.Lock()
	if r.closed || len(r.members) > 0 {
		r.mu.Unlock()
		return false
	}
	r.closeLocked()
	r.mu.Unlock()
	r.drain()
	return true
}

// closeLocked marks the room closed and wakes whoever waits for its next
// message; the next drain of the outbox then detaches it (see drain).
func (r *Room) closeLocked() {
	r.closed = true
	r.wakeLocked()
}

// isClosed reports whether the room is closed.
func (r *Room) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// movedLocked returns a channel closed when the next message is queued
// here, or when the room is closed.
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

// newID returns 64 random bits in hex.
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}
