package natstransport

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsmap/wsmap/room"
)

// attachment is one room carried by a Transport.
type attachment struct {
	t        *Transport
	name     string
	subject  string
	deliver  func(room.Event)
	sub      *nats.Subscription
	detached atomic.Bool
	dropped  int // sub.Dropped() when the heartbeat loop last looked

	// With rooms' histories (see history.go): what this process knows of
	// the room's newest message, and what stops its history consumer.
	hist     histState
	histStop func()

	// mu makes deliveries one at a time, whichever goroutine makes them:
	// the subscription's, or the heartbeat loop's when it removes a
	// silent process's members or synchronizes the room. It guards
	// members.
	mu      sync.Mutex
	members map[string]map[string]room.MemberInfo // other processes' members, by process ID then member ID
}

// receive handles a message on the room's subject.
func (a *attachment) receive(msg *nats.Msg) {
	if a.detached.Load() {
		return
	}
	env, err := parseEnvelope(msg.Data)
	if err != nil {
		a.t.report(fmt.Errorf("natstransport: room %q: %w", a.name, err))
		return
	}
	if env.origin == a.t.origin {
		return // this process's own, delivered here already
	}
	switch env.kind {
	case kindMessage:
		a.mu.Lock()
		if !a.detached.Load() {
			a.deliver(room.Event{Kind: room.Message, Member: room.MemberInfo{ID: env.member}, Type: env.typ, Data: env.data})
		}
		a.mu.Unlock()
	case kindJoined:
		a.t.heardFrom(env.origin)
		a.mu.Lock()
		a.joinedLocked(env.origin, room.MemberInfo{ID: env.member, Meta: env.meta})
		a.mu.Unlock()
	case kindLeft:
		a.t.heardFrom(env.origin)
		a.mu.Lock()
		a.leftLocked(env.origin, env.member)
		a.mu.Unlock()
	case kindHello:
		a.t.heardFrom(env.origin)
		a.mu.Lock()
		a.forgetLocked(env.origin)
		if !a.detached.Load() {
			a.deliver(room.Event{Kind: room.Sync})
		}
		a.mu.Unlock()
	case kindGone:
		a.mu.Lock()
		a.forgetLocked(env.origin)
		a.mu.Unlock()
	default:
		a.t.report(fmt.Errorf("%w: room %q: %s message on a room's subject", ErrMalformed, a.name, env.kind))
	}
}

func (a *attachment) joinedLocked(origin string, info room.MemberInfo) {
	if a.detached.Load() {
		return
	}
	ms := a.members[origin]
	if ms == nil {
		ms = make(map[string]room.MemberInfo)
		a.members[origin] = ms
	}
	ms[info.ID] = info
	a.deliver(room.Event{Kind: room.Joined, Member: info})
}

func (a *attachment) leftLocked(origin, id string) {
	info, ok := a.members[origin][id]
	if !ok {
		return
	}
	delete(a.members[origin], id)
	if len(a.members[origin]) == 0 {
		delete(a.members, origin)
	}
	if !a.detached.Load() {
		a.deliver(room.Event{Kind: room.Left, Member: info})
	}
}

// forgetLocked removes every member of process origin, reporting
// whether there were any.
func (a *attachment) forgetLocked(origin string) bool {
	ms := a.members[origin]
	if len(ms) == 0 {
		return false
	}
	delete(a.members, origin)
	if !a.detached.Load() {
		for _, info := range ms {
			a.deliver(room.Event{Kind: room.Left, Member: info})
		}
	}
	return true
}

// forgetAllLocked removes every other process's members.
func (a *attachment) forgetAllLocked() {
	for origin := range a.members {
		a.forgetLocked(origin) // deleting the entry being visited is safe
	}
}

// attachments returns the rooms the Transport carries now. It releases
// t.mu before returning, so that the caller may take the attachments'
// locks.
func (t *Transport) attachments() []*attachment {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Collect(maps.Values(t.rooms))
}

// synchronize forgets every other process's members, then asks the
// others to forget this one's and announce theirs, and has the room
// announce its own: after a reconnection, dropped messages, or a
// process thought dead that spoke again.
func (a *attachment) synchronize() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.detached.Load() {
		return
	}
	a.forgetAllLocked()
	// The hello goes out before the room's announcements, on the same
	// connection: the others forget this process's members, then learn
	// them again.
	a.t.publishControl(a.subject, kindHello)
	a.deliver(room.Event{Kind: room.Sync})
}

// detach stops carrying the room and tells the other processes to
// forget its members here (each was announced as leaving already;
// this covers announcements lost while the connection was down).
func (a *attachment) detach() {
	t := a.t
	t.mu.Lock()
	if t.rooms[a.name] == a {
		delete(t.rooms, a.name)
	}
	closed := t.closed.Load() // Close stops it, and says goodbye
	t.mu.Unlock()
	if err := a.stop(); err != nil {
		t.report(fmt.Errorf("natstransport: room %q: unsubscribe: %w", a.name, err))
	}
	if !closed && t.nc.IsConnected() {
		t.publishControl(a.subject, kindGone)
	}
}

// heardFrom records a sign of life from process origin. One whose
// members were removed for its silence is alive after all: every room
// is synchronized on the next tick, so that its members come back.
func (t *Transport) heardFrom(origin string) {
	now := time.Now()
	t.mu.Lock()
	t.peers[origin] = now
	if _, ok := t.expired[origin]; ok {
		delete(t.expired, origin)
		t.resync.Store(true)
	}
	t.mu.Unlock()
}

// receiveAlive handles a message on the process subject.
func (t *Transport) receiveAlive(msg *nats.Msg) {
	env, err := parseEnvelope(msg.Data)
	if err != nil {
		t.report(fmt.Errorf("natstransport: %s: %w", t.aliveSubj, err))
		return
	}
	if env.origin == t.origin {
		return
	}
	switch env.kind {
	case kindAlive:
		t.heardFrom(env.origin)
	case kindBye:
		t.mu.Lock()
		delete(t.peers, env.origin)
		delete(t.expired, env.origin)
		t.mu.Unlock()
		for _, a := range t.attachments() {
			a.mu.Lock()
			a.forgetLocked(env.origin)
			a.mu.Unlock()
		}
	default:
		t.report(fmt.Errorf("%w: %s message on %s", ErrMalformed, env.kind, t.aliveSubj))
	}
}

// loop is the heartbeat: every interval it says this process is alive
// and looks after presence. Close ends it.
func (t *Transport) loop() {
	defer close(t.loopEnded)
	tick := time.NewTicker(t.interval)
	defer tick.Stop()
	for {
		select {
		case <-t.done:
			return
		case now := <-tick.C:
			t.tick(now)
		}
	}
}

// tick does one round of the heartbeat.
func (t *Transport) tick(now time.Time) {
	if t.nc.IsClosed() {
		if t.closedSeen {
			return
		}
		// The connection has given up: the other processes are out of
		// reach for good, and their members out of presence.
		t.closedSeen = true
		t.report(fmt.Errorf("natstransport: rooms reach no other process: %w", nats.ErrConnectionClosed))
		for _, a := range t.attachments() {
			a.mu.Lock()
			a.forgetAllLocked()
			a.mu.Unlock()
		}
		return
	}
	if t.nc.IsConnected() {
		t.publishControl(t.aliveSubj, kindAlive)
	}
	// A reconnection may have lost messages both ways: synchronize
	// every room.
	all := t.resync.Swap(false)
	if r := t.nc.Stats().Reconnects; r != t.reconnects {
		t.reconnects = r
		all = true
	}

	t.mu.Lock()
	var silent []string
	for id, seen := range t.peers {
		if now.Sub(seen) > t.timeout {
			silent = append(silent, id)
			delete(t.peers, id)
		}
	}
	// A process that speaks again long after it went silent has
	// reconnected, and synchronized its rooms itself.
	for id, at := range t.expired {
		if now.Sub(at) > 10*t.timeout {
			delete(t.expired, id)
		}
	}
	if all {
		clear(t.expired)
	}
	rooms := slices.Collect(maps.Values(t.rooms))
	t.mu.Unlock()

	var removed []string
	for _, a := range rooms {
		if d, err := a.sub.Dropped(); err == nil && d > a.dropped {
			t.report(fmt.Errorf("natstransport: room %q: %d messages dropped: %w", a.name, d-a.dropped, nats.ErrSlowConsumer))
			a.dropped = d
			if !all {
				a.synchronize()
			}
		}
		if all {
			a.synchronize()
			continue
		}
		a.mu.Lock()
		for _, id := range silent {
			if a.forgetLocked(id) {
				removed = append(removed, id)
			}
		}
		a.mu.Unlock()
	}
	if len(removed) > 0 {
		t.mu.Lock()
		for _, id := range removed {
			t.expired[id] = now
		}
		t.mu.Unlock()
	}
}
