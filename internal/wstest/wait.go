package wstest

import (
	"testing"
	"time"
)

// Settle waits until cond holds, checking every 10ms for up to d, and
// reports whether it did.
func Settle(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// WaitFor waits until cond holds, checking every 10ms, and fails the test
// if it does not within d; what names the condition in the failure.
func WaitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	if !Settle(d, cond) {
		tb.Fatalf("timed out after %v waiting for %s", d, what)
	}
}
