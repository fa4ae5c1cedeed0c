package room

import "context"

// A room's presence events go to its Transport in the order they
// happened, so that another process never sees a member after its Left,
// nor a member announced again after it left; yet no Transport call is
// made under the room's lock. Each event is queued in the room's outbox
// under the lock, where its order is decided, and published after it,
// by whoever drains the outbox: the goroutine that queued it, unless
// another is draining already, in which case that one publishes it
// after those before it. A goroutine that drains publishes what it
// finds and, if more was queued meanwhile, hands the rest to a
// goroutine of its own, so that a Join or a Leave never publishes for
// long on behalf of others.
//
// Closing goes through the outbox too: once a closed room's outbox is
// empty, the departures of its members published, the goroutine that
// found it so has the room detached from its Transport, on a goroutine
// of its own (so that no detach is called from within the Transport's
// deliver, where a closing may begin), then tells the Hub (onGone) and
// closes r.gone.

// outbox is a room's presence events on their way to the Transport; the
// room's lock guards it.
type outbox struct {
	events   []Event
	draining bool // a goroutine is publishing events
	detached bool // the room, closed, has been detached
}

// announceLocked queues e for the Transport, if the room has one. The
// caller drains the outbox once it has released the lock.
func (r *Room) announceLocked(e Event) {
	if r.tr != nil {
		r.out.events = append(r.out.events, e)
	}
}

// drain publishes the outbox's events, unless another goroutine is doing
// so, and, once the room is closed and its outbox empty, detaches it.
func (r *Room) drain() {
	r.mu.Lock()
	if r.out.draining {
		r.mu.Unlock()
		return
	}
	r.out.draining = true
	r.mu.Unlock()
	r.drainRounds(1)
}

// drainRounds publishes the outbox's events for at most rounds rounds
// (0: until it is empty), then hands on to a goroutine of its own; the
// caller has set r.out.draining.
func (r *Room) drainRounds(rounds int) {
	var free []Event
	for round := 0; ; round++ {
		r.mu.Lock()
		evs := r.out.events
		if len(evs) == 0 {
			r.out.draining = false
			finish := r.closed && !r.out.detached
			r.out.detached = r.out.detached || finish
			r.mu.Unlock()
			switch {
			case !finish:
			case r.detach != nil:
				go r.finish()
			default:
				r.finish()
			}
			return
		}
		if rounds > 0 && round == rounds {
			r.mu.Unlock()
			go r.drainRounds(0)
			return
		}
		r.out.events = free
		r.mu.Unlock()
		for _, e := range evs {
			// An error says the event may not reach the others:
			// presence is made good when the Transport synchronizes
			// the room (Sync).
			_ = r.publish(context.Background(), e)
		}
		clear(evs)
		free = evs[:0]
	}
}

// finish detaches the closed room from its Transport, tells the hub, and
// closes r.gone.
func (r *Room) finish() {
	if r.detach != nil {
		r.detach()
	}
	if r.onGone != nil {
		r.onGone(r)
	}
	close(r.gone)
}
