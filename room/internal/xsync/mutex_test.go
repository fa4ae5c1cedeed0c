package xsync_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/wsmap/wsmap/room/internal/xsync"
)

// TestMutexExcludes: goroutines that lock a Mutex each run alone between
// Lock and Unlock.
func TestMutexExcludes(t *testing.T) {
	t.Parallel()
	var mu xsync.Mutex
	var wg sync.WaitGroup
	inside, total := 0, 0
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if err := mu.Lock(context.Background()); err != nil {
					t.Error(err)
					return
				}
				inside++
				if inside != 1 {
					t.Errorf("%d goroutines hold the lock", inside)
				}
				total++
				inside--
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if total != 8*200 {
		t.Errorf("%d critical sections, want %d", total, 8*200)
	}
}

// TestMutexLockGivesUp: a Lock waiting on a held Mutex returns its
// context's error when the context ends, and then does not hold it;
// one whose context has ended does not lock even a free Mutex.
func TestMutexLockGivesUp(t *testing.T) {
	t.Parallel()
	var mu xsync.Mutex
	if !mu.TryLock() {
		t.Fatal("TryLock of a new Mutex failed")
	}
	if mu.TryLock() {
		t.Fatal("TryLock of a held Mutex succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := mu.Lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock of a held Mutex: %v, want context.DeadlineExceeded", err)
	}
	mu.Unlock()
	if err := mu.Lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock with an ended context: %v, want context.DeadlineExceeded", err)
	}
	if !mu.TryLock() {
		t.Fatal("the Mutex is held after Locks that gave up")
	}
	// Another goroutine may unlock it.
	done := make(chan error, 1)
	go func() { done <- mu.Lock(context.Background()) }()
	go mu.Unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Lock did not get the Mutex unlocked by another goroutine")
	}
}

// TestMutexUnlockOfUnlocked panics.
func TestMutexUnlockOfUnlocked(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("Unlock of an unlocked Mutex did not panic")
		}
	}()
	var mu xsync.Mutex
	mu.Unlock()
}
