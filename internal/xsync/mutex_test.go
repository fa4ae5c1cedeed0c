package xsync_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/xsync"
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

// TestMutexLockOrStops: LockOr gives up with ErrStopped when its stop
// channel closes, and then does not hold the Mutex.
func TestMutexLockOrStops(t *testing.T) {
	t.Parallel()
	var mu xsync.Mutex
	if err := mu.LockOr(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- mu.LockOr(context.Background(), stop) }()
	close(stop)
	select {
	case err := <-done:
		if !errors.Is(err, xsync.ErrStopped) {
			t.Fatalf("LockOr with stop closed: %v, want ErrStopped", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("LockOr did not stop")
	}
	mu.Unlock()
	if !mu.TryLock() {
		t.Fatal("the Mutex is held after a LockOr that stopped")
	}
}

// TestMutexWaitersGivingUp: goroutines that wait and goroutines that give
// up while waiting, at random, never leave a free Mutex with a waiter
// stuck behind it, and never hold it two at a time.
func TestMutexWaitersGivingUp(t *testing.T) {
	t.Parallel()
	var mu xsync.Mutex
	var inside atomic.Int32
	var locked, gaveUp atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				ctx := context.Background()
				var cancel context.CancelFunc = func() {}
				if (g+i)%3 == 0 {
					ctx, cancel = context.WithTimeout(ctx, time.Duration(i%50)*time.Microsecond)
				}
				err := mu.Lock(ctx)
				cancel()
				if err != nil {
					gaveUp.Add(1)
					continue
				}
				if n := inside.Add(1); n != 1 {
					t.Errorf("%d goroutines hold the Mutex", n)
				}
				locked.Add(1)
				if i%7 == 0 {
					time.Sleep(20 * time.Microsecond)
				}
				inside.Add(-1)
				mu.Unlock()
			}
		})
	}
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(30 * time.Second):
		t.Fatal("a waiter is stuck behind the Mutex")
	}
	if locked.Load()+gaveUp.Load() != 8*300 {
		t.Errorf("%d locked + %d gave up, want %d", locked.Load(), gaveUp.Load(), 8*300)
	}
	if !mu.TryLock() {
		t.Error("the Mutex is held after every goroutine unlocked it")
	}
}

func BenchmarkMutexUncontended(b *testing.B) {
	b.ReportAllocs()
	var mu xsync.Mutex
	ctx := context.Background()
	for b.Loop() {
		if err := mu.Lock(ctx); err != nil {
			b.Fatal(err)
		}
		mu.Unlock()
	}
}
