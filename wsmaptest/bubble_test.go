package wsmaptest

import (
	"testing"
	"testing/synctest"
)

// TestInBubble: the kit tells a goroutine in a synctest bubble from one
// outside, on which its refusal of dials across a bubble's boundary rests.
func TestInBubble(t *testing.T) {
	t.Parallel()
	if inBubble() {
		t.Error("inBubble() outside a bubble")
	}
	synctest.Test(t, func(t *testing.T) {
		if !inBubble() {
			t.Error("!inBubble() inside a bubble")
		}
		done := make(chan bool)
		go func() { done <- inBubble() }()
		if !<-done {
			t.Error("!inBubble() in a goroutine started inside a bubble")
		}
	})
}
