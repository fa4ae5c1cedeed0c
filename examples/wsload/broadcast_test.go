package main

import (
	"context"
	"errors"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/service"
)

// roomServer serves a broadcast room as wsload's broadcast mode expects.
func roomServer(t *testing.T) string {
	t.Helper()
	url, _ := roomServerQueue(t, 1024)
	return url
}

// roomServerQueue is roomServer with members' queues of n messages; it
// also returns a count of the members the room dropped as too slow, as
// their handlers saw it.
func roomServerQueue(t *testing.T, n int) (string, *atomic.Int64) {
	t.Helper()
	r, err := room.New("load", &room.Options{QueueSize: n})
	if err != nil {
		t.Fatal(err)
	}
	dropped := new(atomic.Int64)
	_, url := serve(t, func(ctx context.Context, c *service.Conn) error {
		m, err := r.Join(c, nil)
		if err != nil {
			return err
		}
		defer m.Leave()
		if err := c.Send(ctx, protocol.Text, []byte(joined)); err != nil {
			return err
		}
		for {
			typ, data, err := c.Recv(ctx)
			if err != nil {
				if errors.Is(m.Err(), room.ErrTooSlow) {
					dropped.Add(1)
				}
				return err
			}
			if err := r.Broadcast(typ, data); err != nil {
				return err
			}
		}
	})
	return url, dropped
}

func TestBroadcast(t *testing.T) {
	t.Parallel()
	url := roomServer(t)
	got := only(t, wsload(t, 0, "-mode", "broadcast", "-conns", "20", "-messages", "50", "-window", "4", "-size", "64", "-protocols", "echo", url))
	want := Report{Phase: "broadcast", Mode: "broadcast", Conns: 20, Connected: 20, Messages: 1000}
	if diff := cmp.Diff(want, got, ignoreVarying); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	if got.PerSecond <= 0 || got.LatencyUS == nil || got.LatencyUS.P50 <= 0 || got.LatencyUS.P50 > got.LatencyUS.Max {
		t.Errorf("deliveries per second %v, latency %+v", got.PerSecond, got.LatencyUS)
	}
}

// TestBroadcastStalled: members that stop reading are dropped by the
// room, and the others get every message (the report counts a member
// closed early as a connection error, and its missing messages).
func TestBroadcastStalled(t *testing.T) {
	t.Parallel()
	url, dropped := roomServerQueue(t, 8)
	cmd := exec.Command(bin, "-mode", "broadcast", "-conns", "5", "-stalled", "2", "-messages", "200", "-window", "4", "-size", "65536", "-protocols", "echo", url)
	reports := follow(t, cmd, func(Report) {})
	want := []Report{{Phase: "broadcast", Mode: "broadcast", Conns: 5, Connected: 7, Messages: 1000}}
	if diff := cmp.Diff(want, reports, ignoreVarying); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	// The stalled members' handlers see the room's close once their
	// sockets are closed at the end of the run.
	deadline := time.Now().Add(10 * time.Second)
	for dropped.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := dropped.Load(); n != 2 {
		t.Errorf("%d members dropped as too slow, want the 2 stalled", n)
	}
}

// TestBroadcastCountsWhatGoesWrong: a server that drops a message for one
// client and alters one for another is caught, and a server that never
// says "joined" fails every connection.
func TestBroadcastCountsWhatGoesWrong(t *testing.T) {
	t.Parallel()
	t.Run("dropped and altered", func(t *testing.T) {
		t.Parallel()
		var mu sync.Mutex
		var clients []*service.Conn
		_, url := serve(t, func(ctx context.Context, c *service.Conn) error {
			mu.Lock()
			clients = append(clients, c)
			mu.Unlock()
			if err := c.Send(ctx, protocol.Text, []byte(joined)); err != nil {
				return err
			}
			for {
				typ, data, err := c.Recv(ctx)
				if err != nil {
					return err
				}
				mu.Lock()
				all := append([]*service.Conn(nil), clients...)
				mu.Unlock()
				seq := int(data[15])
				for i, m := range all {
					out := data
					switch {
					case i == 1 && seq == 5:
						continue // dropped
					case i == 2 && seq == 7:
						out = append([]byte(nil), data...)
						out[20] ^= 0xff
					}
					if err := m.Send(ctx, typ, out); err != nil {
						return err
					}
				}
			}
		})
		got := only(t, wsload(t, 1, "-mode", "broadcast", "-conns", "4", "-messages", "10", "-size", "32", "-window", "4", "-protocols", "echo", "-timeout", "20s", url))
		if got.Corrupted < 1 || got.Reordered+got.Lost < 1 {
			t.Errorf("report %+v: want the altered message counted as corrupted and the dropped one as reordered or lost", got)
		}
	})
	t.Run("never joined", func(t *testing.T) {
		t.Parallel()
		_, url := serve(t, func(ctx context.Context, c *service.Conn) error {
			return c.Send(ctx, protocol.Text, []byte("hello"))
		})
		got := only(t, wsload(t, 1, "-mode", "broadcast", "-conns", "3", "-messages", "5", "-protocols", "echo", url))
		if got.ConnErrors != 3 || got.Messages != 0 {
			t.Errorf("report %+v: want 3 connection errors, no messages", got)
		}
	})
}
