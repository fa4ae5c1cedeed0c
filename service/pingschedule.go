package service

import (
	"sync"
	"time"
)

// A pingSchedule sends the keepalive pings of a server's connections
// that share a ping interval, from one timer: each connection's next
// ping is due one interval after it was last scheduled, so the
// connections, kept in the order they were scheduled, are in the order
// they are due. A connection served without a Server has a timer of its
// own instead (see keepalive).
type pingSchedule struct {
	every time.Duration

	mu         sync.Mutex
	head, tail *keepalive // the connections, first due first
	timer      *time.Timer
	timerSet   bool
	timerAt    time.Duration // when the timer fires, while set (see clock)
}

// keepalive is a connection's place in its schedule of keepalive pings,
// or its own timer.
type keepalive struct {
	c          *Conn
	s          *pingSchedule
	prev, next *keepalive
	due        time.Duration // on the clock (see clock)
	own        *time.Timer   // where no schedule is shared
}

// add schedules c's first ping, one interval from now.
func (s *pingSchedule) add(c *Conn) *keepalive {
	k := &keepalive{c: c, s: s}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pushLocked(k, clock())
	return k
}

// remove takes k out of the schedule; it may have left already.
func (s *pingSchedule) remove(k *keepalive) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k.prev == nil && s.head != k {
		return // not scheduled
	}
	s.unlinkLocked(k)
}

// pushLocked puts k last, due one interval after now, and sets the
// timer if k is the only one.
func (s *pingSchedule) pushLocked(k *keepalive, now time.Duration) {
	k.due = now + s.every
	k.prev, k.next = s.tail, nil
	if s.tail != nil {
		s.tail.next = k
	} else {
		s.head = k
	}
	s.tail = k
	if s.head == k {
		s.setTimerLocked(k.due - now)
	}
}

func (s *pingSchedule) unlinkLocked(k *keepalive) {
	if k.prev != nil {
		k.prev.next = k.next
	} else {
		s.head = k.next
	}
	if k.next != nil {
		k.next.prev = k.prev
	} else {
		s.tail = k.prev
	}
	k.prev, k.next = nil, nil
}

// setTimerLocked makes the timer fire in d, unless it is set to fire
// sooner.
func (s *pingSchedule) setTimerLocked(d time.Duration) {
	at := clock() + d
	switch {
	case s.timer == nil:
		s.timer = time.AfterFunc(d, s.fire)
	case s.timerSet && s.timerAt <= at:
		return
	default:
		s.timer.Reset(d)
	}
	s.timerSet, s.timerAt = true, at
}

// fire pings the connections that are due, each from a goroutine of its
// own as a timer of its own would, schedules their next pings, and sets
// the timer for the next connection due.
func (s *pingSchedule) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timerSet = false
	now := clock()
	for k := s.head; k != nil && k.due <= now; k = s.head {
		s.unlinkLocked(k)
		s.pushLocked(k, now) // due again an interval from now
		go k.c.keepaliveTick()
	}
	if s.head != nil {
		s.setTimerLocked(s.head.due - now)
	}
}

// pingSchedules are a server's schedules, one per ping interval.
type pingSchedules struct {
	mu    sync.Mutex
	every map[time.Duration]*pingSchedule
}

// of returns the schedule of connections that ping every d.
func (ps *pingSchedules) of(d time.Duration) *pingSchedule {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	s := ps.every[d]
	if s == nil {
		if ps.every == nil {
			ps.every = make(map[time.Duration]*pingSchedule)
		}
		s = &pingSchedule{every: d}
		ps.every[d] = s
	}
	return s
}
