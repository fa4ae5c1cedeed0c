package main

import (
	"errors"
	"sync"
)

// feedQueue is how many posted messages a subscriber may have waiting
// before it is dropped.
const feedQueue = 64

// errFellBehind ends a messages subscription whose queue overflowed.
var errFellBehind = errors.New("messages: the subscriber fell behind and was dropped: " +
	"more than 64 messages were waiting for it")

// feed sends every posted message to every messages subscription, from
// any connection or HTTP request, in the same order to all. It is safe
// for concurrent use.
type feed struct {
	mu   sync.Mutex
	subs map[*feedSub]struct{}
}

// feedSub is one subscription: its queue and what to do when it
// overflows.
type feedSub struct {
	ch      chan *messageResolver
	dropped func()
}

// subscribe adds a subscriber and returns its channel and the function
// that removes it and closes the channel. A subscriber whose queue is
// full when a message is published is removed at once, its channel left
// open (so that its reader does not take the drop for the stream's end),
// and dropped is called, on the publisher's goroutine.
func (f *feed) subscribe(dropped func()) (<-chan *messageResolver, func()) {
	s := &feedSub{ch: make(chan *messageResolver, feedQueue), dropped: dropped}
	f.mu.Lock()
	if f.subs == nil {
		f.subs = make(map[*feedSub]struct{})
	}
	f.subs[s] = struct{}{}
	f.mu.Unlock()
	return s.ch, func() { f.remove(s) }
}

// remove removes s, if it is still subscribed, and closes its channel.
func (f *feed) remove(s *feedSub) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.subs[s]; ok {
		delete(f.subs, s)
		close(s.ch)
	}
}

// publish queues m for every subscriber without waiting for any.
func (f *feed) publish(m *messageResolver) {
	var slow []*feedSub
	f.mu.Lock()
	for s := range f.subs {
		select {
		case s.ch <- m:
		default:
			delete(f.subs, s)
			slow = append(slow, s)
		}
	}
	f.mu.Unlock()
	for _, s := range slow {
		s.dropped()
	}
}

// len returns the number of subscribers.
func (f *feed) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}
