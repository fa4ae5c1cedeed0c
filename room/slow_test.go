package room_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/room/internal/roomtest"
)

// TestSlowMemberIsDropped has a member stop reading while the room keeps
// talking: it is dropped with 1008 once its queue is full, and the other
// members' deliveries go on without delay, measured as the time from
// each broadcast to its arrival.
//
// It runs alone (not in parallel): fast members starved of CPU by other
// tests could be dropped as slow themselves.
func TestSlowMemberIsDropped(t *testing.T) {
	const fast, size, queue = 4, 64 << 10, 32
	hub := roomtest.NewHub(t, &room.Options{QueueSize: queue})
	base := serve(t, roomtest.Member(hub, false))
	addr := strings.TrimPrefix(base, "ws://")

	slow, err := wstest.Dial(addr, "/?nick=slow")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	conns := dialAll(t, fast, func(i int) string { return fmt.Sprintf("%s/?nick=f%d", base, i) })
	wstest.WaitFor(t, 10*time.Second, "every member to join", func() bool { r := hub.Room("r"); return r != nil && r.Len() == fast+1 })
	r := hub.Room("r")

	// Each message carries its send time; fast members record the worst
	// delay.
	var mu sync.Mutex
	var worst time.Duration
	var received [fast]int
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			for {
				_, data, err := c.Recv(context.Background())
				if err != nil {
					return
				}
				var sent int64
				if _, err := fmt.Sscanf(string(data[:20]), "%020d", &sent); err != nil {
					t.Errorf("member %d: bad message: %v", i, err)
					return
				}
				d := time.Since(time.Unix(0, sent))
				mu.Lock()
				worst = max(worst, d)
				received[i]++
				mu.Unlock()
				select {
				case <-stop:
					return
				default:
				}
			}
		})
	}

	payload := bytes.Repeat([]byte{'x'}, size)
	broadcast := func() {
		copy(payload, fmt.Sprintf("%020d", time.Now().UnixNano()))
		if err := r.Broadcast(protocol.Binary, payload); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Millisecond)
	}
	// Talk until the slow member is dropped (its socket buffers fill,
	// then its queue), then some more.
	sent := 0
	for r.Len() == fast+1 {
		if sent == 5000 {
			t.Fatal("the slow member was never dropped")
		}
		broadcast()
		sent++
	}
	dropped := time.Now()
	for range 50 {
		broadcast()
		sent++
	}
	wstest.WaitFor(t, 10*time.Second, "the fast members to receive everything", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range received {
			if n < sent {
				return false
			}
		}
		return true
	})
	close(stop)
	mu.Lock()
	t.Logf("slow member dropped after %d broadcasts of %d KiB; worst delay to the fast members %v", sent-50, size>>10, worst)
	if worst > time.Second {
		t.Errorf("a fast member waited %v for a broadcast", worst)
	}
	mu.Unlock()

	// The slow member reads again: what was written before the drop,
	// then the close.
	f, err := slow.ExpectClose(10 * time.Second)
	if err != nil {
		t.Fatalf("slow member, %v after the drop: %v", time.Since(dropped), err)
	}
	if f.CloseCode() != int(room.TooSlowCode) || f.CloseReason() != room.TooSlowReason {
		t.Errorf("slow member closed with %d %q, want %v %q", f.CloseCode(), f.CloseReason(), room.TooSlowCode, room.TooSlowReason)
	}
	for _, c := range conns {
		_ = c.Close(protocol.CloseNormal, "")
	}
	wg.Wait()
}
