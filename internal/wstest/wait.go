package wstest

import "time"

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
