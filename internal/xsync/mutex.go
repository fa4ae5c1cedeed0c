// Package xsync holds the lock that wsmap's packages use where a waiter
// may give up: a Mutex whose Lock takes a context, one machine word and
// a pointer in size, that makes a channel only once a goroutine has had
// to wait for it.
package xsync

import (
	"context"
	"errors"
	"sync"
)

// Mutex is a mutual exclusion lock whose Lock gives up when its context
// ends: for a lock held while something is written or sent over the
// network, which a waiter may not want to wait for as long. The zero
// value is an unlocked Mutex. A Mutex must not be copied after first
// use. As with sync.Mutex, a locked Mutex is not tied to a goroutine.
//
// Waiters are not served in order: a goroutine that finds the Mutex free
// takes it, even while others wait.
type Mutex struct {
	mu      sync.Mutex // guards the fields below, never held while waiting
	locked  bool
	waiters int32
	// wake holds a token while the Mutex may have been unlocked since a
	// waiter last looked; made by the first goroutine that waits.
	wake chan struct{}
}

// ErrStopped is LockOr's error when its stop channel was closed first.
var ErrStopped = errors.New("xsync: stopped while waiting for the lock")

// Lock locks m, waiting until it is free or ctx ends, whichever comes
// first; it returns ctx.Err() in the second case, or at once if ctx has
// ended already, and then does not lock m.
func (m *Mutex) Lock(ctx context.Context) error {
	return m.LockOr(ctx, nil)
}

// LockOr is Lock that also gives up, with ErrStopped, when stop is
// closed while it waits. A nil stop never is.
func (m *Mutex) LockOr(ctx context.Context, stop <-chan struct{}) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	if !m.locked {
		m.locked = true
		m.mu.Unlock()
		return nil
	}
	if m.wake == nil {
		m.wake = make(chan struct{}, 1)
	}
	wake := m.wake
	m.waiters++
	m.mu.Unlock()
	for {
		select {
		case <-wake:
			m.mu.Lock()
			if !m.locked {
				m.locked = true
				m.waiters--
				m.mu.Unlock()
				return nil
			}
			m.mu.Unlock() // taken by a goroutine that did not wait
		case <-ctx.Done():
			m.giveUp()
			return ctx.Err()
		case <-stop:
			m.giveUp()
			return ErrStopped
		}
	}
}

// giveUp leaves the waiters. A token this waiter did not take stays for
// the others.
func (m *Mutex) giveUp() {
	m.mu.Lock()
	m.waiters--
	m.mu.Unlock()
}

// TryLock locks m if it is free, reporting whether it did.
func (m *Mutex) TryLock() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locked {
		return false
	}
	m.locked = true
	return true
}

// Unlock unlocks m, waking a waiter if there is one. Unlocking a Mutex
// that is not locked panics.
func (m *Mutex) Unlock() {
	m.mu.Lock()
	if !m.locked {
		m.mu.Unlock()
		panic("xsync: unlock of unlocked Mutex")
	}
	m.locked = false
	if m.waiters > 0 {
		select {
		case m.wake <- struct{}{}:
		default: // a token is there already, for a waiter to take
		}
	}
	m.mu.Unlock()
}
