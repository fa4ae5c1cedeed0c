// Package xsync holds the one lock of package room and its transports
// that a waiter may give up on: a Mutex whose Lock takes a context.
package xsync

import (
	"context"
	"sync"
)

// Mutex is a mutual exclusion lock whose Lock gives up when its context
// ends: for a lock held while something is made or sent over the
// network, which a waiter may not want to wait for as long. The zero
// value is an unlocked Mutex. A Mutex must not be copied after first
// use. As with sync.Mutex, a locked Mutex is not tied to a goroutine.
type Mutex struct {
	once sync.Once
	ch   chan struct{} // holds one token while the Mutex is locked
}

func (m *Mutex) init() { m.once.Do(func() { m.ch = make(chan struct{}, 1) }) }

// Lock locks m, waiting until it is free or ctx ends, whichever comes
// first; it returns ctx.Err() in the second case, or at once if ctx has
// ended already, and then does not lock m.
func (m *Mutex) Lock(ctx context.Context) error {
	m.init()
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case m.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TryLock locks m if it is free, reporting whether it did.
func (m *Mutex) TryLock() bool {
	m.init()
	select {
	case m.ch <- struct{}{}:
		return true
	default:
		return false
	}
}

// Unlock unlocks m. Unlocking a Mutex that is not locked panics.
func (m *Mutex) Unlock() {
	m.init()
	select {
	case <-m.ch:
	default:
		panic("xsync: unlock of unlocked Mutex")
	}
}
