package middleware

import (
	"strconv"
	"testing"
	"time"
)

func TestRateLimiterMemoryIsBounded(t *testing.T) {
	t.Parallel()
	l := &rateLimiter{opts: RateLimitOptions{Rate: 1, Burst: 1, MaxClients: 100}, clients: map[string]*clientBucket{}}
	now := time.Unix(1_000_000, 0)
	for i := range 10_000 {
		if wait := l.take(strconv.Itoa(i), now); wait != 0 {
			t.Fatalf("a new client %d waits %v", i, wait)
		}
		if n := len(l.clients); n > 100 {
			t.Fatalf("%d clients remembered, bound 100", n)
		}
	}
	// A remembered client over its limit still waits...
	l.take("x", now)
	if wait := l.take("x", now); wait != time.Second {
		t.Errorf("second handshake in the same instant waits %v, want 1s", wait)
	}
	// ...and idle clients are forgotten once their allowance is whole.
	later := now.Add(2 * time.Minute)
	l.take("y", later)
	if n := len(l.clients); n != 1 {
		t.Errorf("%d clients remembered after every allowance refilled, want 1", n)
	}
}
