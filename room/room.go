package room

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

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
	tr     Transport
	detach func()
	onIdle func(*Room) // a Hub's: called, unlocked, when the last member leaves

	mu      sync.Mutex
	members []*Member             // local members; Member.idx is the position
	shards  []*shard              // the live local members again, in shards (see fanout.go)
	seq     uint64                // messages delivered here so far: the newest one's number
	base    uint64                // seq - base is the newest one's offset (see deliverShared)
	hist    *history              // nil without History; with shared, the newest messages kept here too
	shared  HistoryTransport      // the Transport that keeps the history, if it does
	noHist  error                 // why a HistoryTransport keeps none, if it could not
	byID    map[string]*Member    // local members by ID, with shared (see deliverShared)
	moved   chan struct{}         // with shared: closed at the next delivery, if made (see movedLocked)
	remote  map[string]MemberInfo // members in other processes, by ID
	closed  bool
}

// New returns a room configured by opts; nil means the defaults. With a
// Transport, it is attached to it at once. Options that no room can be
// made with return an error matching ErrInvalidOptions.
func New(name string, opts *Options) (*Room, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	r := &Room{name: name}
	if opts != nil {
		r.queue, r.tr = opts.QueueSize, opts.Transport
	}
	if r.queue <= 0 {
		r.queue = DefaultQueueSize
	}
	if opts != nil && opts.History != nil {
		r.hist = newHistory(opts.History)
		if ht, ok := r.tr.(HistoryTransport); ok {
			switch err := ht.KeepHistory(*opts.History); {
			case errors.Is(err, ErrHistoryUnavailable):
				r.hist, r.noHist = nil, err
			case err != nil:
				return nil, fmt.Errorf("room %q: history: %w", name, err)
			default:
				r.shared = ht
				r.hist.epoch = "" // learnt from the Transport
				r.byID = make(map[string]*Member)
			}
		}
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

// Broadcast sends a message to every member, here and, with a
// Transport, in other processes. It never waits for a member. A
// Transport's error is returned after local delivery. Over a
// HistoryTransport, which delivers the message here as well, it returns
// once it has done so (or after 5 seconds without), so that what the
// caller does next, such as a Member.Send, comes after the message, as
// in a room without one.
func (r *Room) Broadcast(typ protocol.MessageType, data []byte) error {
	return r.broadcast(nil, typ, data)
}

// BroadcastFrom sends a message from member from to every other member.
// A member catching up (see Resume) does not receive what it broadcasts
// this way from the history either.
func (r *Room) BroadcastFrom(from *Member, typ protocol.MessageType, data []byte) error {
	return r.broadcast(from, typ, data)
}

func (r *Room) broadcast(from *Member, typ protocol.MessageType, data []byte) error {
	var sender MemberInfo
	if from != nil {
		sender = from.info
	}
	if r.shared != nil {
		return r.broadcastShared(sender, typ, data)
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
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrRoomClosed
	}
	return r.fanOutLocked(msg, except)
}

// fanOutLocked is fanOut with the room's lock held; it unlocks it.
func (r *Room) fanOutLocked(msg message, except *Member) error {
	var buf [8]*shard
	idle := buf[:0]
	pm := msg.pm
	if pm == nil {
		typ, data := r.hist.encode(Position{Epoch: r.hist.epoch, Offset: r.offsetLocked() + 1}, msg.from, msg.typ, msg.data)
		var err error
		if pm, err = service.NewPreparedMessage(typ, data); err != nil {
			r.mu.Unlock()
			return fmt.Errorf("room %q: History.Encode: %w", r.name, err)
		}
	}
	r.seq++
	if r.hist != nil {
		r.hist.add(r.offsetLocked(), pm, except)
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
		if r.shared != nil {
			r.deliverShared(e, pm)
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
	r.wakeLocked()
	for len(r.members) > 0 {
		r.removeLocked(r.members[len(r.members)-1], ErrRoomClosed)
	}
	r.mu.Unlock()
	r.detachTransport()
}

// isClosed reports whether the room is closed.
func (r *Room) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
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
	r.wakeLocked()
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
