package room_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/room/internal/roomtest"
	"github.com/wsmap/wsmap/service"
)

// TestConcurrentBroadcastsOverShards has three goroutines broadcast at
// once to a room large enough to span several shards, while more
// members join: every member receives the same sequence (each
// broadcaster's messages in order, none twice, none missing), and a
// member that joined meanwhile receives an unbroken tail of it.
func TestConcurrentBroadcastsOverShards(t *testing.T) {
	wstest.Long(t)
	t.Parallel()
	const early, late, senders, each = 300, 20, 3, 200
	hub := roomtest.NewHub(t, &room.Options{QueueSize: senders*each + 2})
	base := serve(t, roomtest.Member(hub, false))
	conns := dialAll(t, early, func(int) string { return base + "/" })
	wstest.WaitFor(t, 10*time.Second, "every member to join", func() bool { r := hub.Room("r"); return r != nil && r.Len() == early })
	r := hub.Room("r")

	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				if err := r.Broadcast(protocol.Text, fmt.Appendf(nil, "%d-%03d", s, i)); err != nil {
					t.Error(err)
					return
				}
				if i == each/2 && s == 0 {
					time.Sleep(time.Millisecond) // let some of the late ones join
				}
			}
		})
	}
	var lateConns []*service.Conn
	wg.Go(func() { lateConns = dialAll(t, late, func(int) string { return base + "/" }) })
	wg.Wait()
	wstest.WaitFor(t, 10*time.Second, "the late members to join", func() bool { return r.Len() == early+late })
	if err := r.Broadcast(protocol.Text, []byte("end")); err != nil {
		t.Fatal(err)
	}

	got := make([][]string, early+late)
	all := append(slices.Clone(conns), lateConns...)
	var rg sync.WaitGroup
	for i, c := range all {
		rg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			for len(got[i]) == 0 || got[i][len(got[i])-1] != "end" {
				_, data, err := c.Recv(ctx)
				if err != nil {
					t.Errorf("member %d after %d messages: %v", i, len(got[i]), err)
					return
				}
				got[i] = append(got[i], string(data))
			}
		})
	}
	rg.Wait()
	if t.Failed() {
		return
	}
	ref := got[0]
	if len(ref) != senders*each+1 {
		t.Fatalf("member 0 received %d messages, want %d", len(ref), senders*each+1)
	}
	next := make([]int, senders)
	for _, msg := range ref[:len(ref)-1] {
		var s, i int
		if _, err := fmt.Sscanf(msg, "%d-%d", &s, &i); err != nil || i != next[s] {
			t.Fatalf("member 0: %q out of order (want %d-%03d)", msg, s, next[s])
		}
		next[s]++
	}
	for i := 1; i < early; i++ {
		if diff := cmp.Diff(ref, got[i]); diff != "" {
			t.Fatalf("member %d's sequence differs from member 0's (-0 +%d):\n%s", i, i, diff)
		}
	}
	for i := early; i < early+late; i++ {
		from := slices.Index(ref, got[i][0])
		if from < 0 || !slices.Equal(ref[from:], got[i]) {
			t.Errorf("late member %d received %d messages from %q, not an unbroken tail of the room's %d", i, len(got[i]), got[i][0], len(ref))
		}
	}
}
