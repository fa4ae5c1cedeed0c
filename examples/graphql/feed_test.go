package main

import "testing"

func TestFeedDropsASlowSubscriber(t *testing.T) {
	t.Parallel()
	var f feed
	dropped := 0
	slow, _ := f.subscribe(func() { dropped++ })
	fast, cancel := f.subscribe(func() { t.Error("the subscriber that reads was dropped") })
	for i := range feedQueue + 1 {
		f.publish(&messageResolver{text: "m"})
		if m := <-fast; m.text != "m" {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	if dropped != 1 || f.len() != 1 || len(slow) != feedQueue {
		t.Errorf("dropped %d times, %d subscribers, %d queued; want 1, 1, %d", dropped, f.len(), len(slow), feedQueue)
	}
	cancel()
	if _, ok := <-fast; ok || f.len() != 0 {
		t.Errorf("after cancel: channel open %v, %d subscribers", ok, f.len())
	}
	cancel() // again: nothing
}
