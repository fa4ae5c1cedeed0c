package room_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/servetest"
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

// TestSendAfterBroadcastInOrder: what a goroutine sends a member with
// Member.Send after a broadcast reaches the member after that broadcast,
// and before the goroutine's next one. Several goroutines do so at once,
// each to a member of its own, so that the shard's queue is often worked
// through by another goroutine than the caller's. The messages are of
// sizes that are written directly, in part at times (the server's
// sockets have small send buffers: the rest goes out from a goroutine of
// its own), or only by the member's writer (over 4 KiB), and the clients
// pause now and then: each member is written to now directly, now by its
// writer, and now by both in turn.
func TestSendAfterBroadcastInOrder(t *testing.T) {
	t.Parallel()
	const senders, rounds = 4, 200
	r, err := room.New("order", &room.Options{QueueSize: 2*senders*rounds + 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	members := make([]*room.Member, senders)
	joined := make(chan struct{}, senders)
	h := service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		s, err := strconv.Atoi(c.Request().URL.Query().Get("sender"))
		if err != nil {
			return err
		}
		if members[s], err = r.Join(c, nil); err != nil {
			return err
		}
		joined <- struct{}{}
		<-ctx.Done()
		return nil
	})
	sock := filepath.Join(t.TempDir(), "ws")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &service.Server{Handler: &service.Endpoint{Handler: h}}
	go func() { _ = srv.Serve(smallSendBuffers{l}) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	opts := &service.DialOptions{NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	conns := make([]*service.Conn, senders)
	for s := range conns {
		conns[s] = servetest.Dial(t, fmt.Sprintf("ws://room/?sender=%d", s), opts)
	}
	for range senders {
		<-joined
	}

	sizes := []int{6000, 16, 16, 3000, 16, 16, 3000, 16, 16, 16, 16, 16, 16, 16, 16, 16}
	message := func(s int, kind string, i int) []byte {
		b := fmt.Appendf(nil, "%d %s %d ", s, kind, i)
		return append(b, make([]byte, max(0, sizes[(s+i)%len(sizes)]-len(b)))...)
	}
	var wg sync.WaitGroup
	got := make([][]string, senders) // what member s received from sender s
	for s, c := range conns {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			for n := range senders*rounds + rounds {
				if n%100 == 99 {
					time.Sleep(time.Millisecond)
				}
				_, data, err := c.Recv(ctx)
				if err != nil {
					t.Errorf("member %d after %d messages: %v", s, n, err)
					return
				}
				var from, i int
				var kind string
				if _, err := fmt.Sscanf(string(data), "%d %s %d ", &from, &kind, &i); err != nil {
					t.Errorf("member %d: message %.20q: %v", s, data, err)
					return
				}
				if from == s {
					got[s] = append(got[s], fmt.Sprintf("%s %d", kind, i))
				}
			}
		})
	}
	for s, m := range members {
		wg.Go(func() {
			for i := range rounds {
				if i%2 == 1 {
					time.Sleep(2 * time.Millisecond) // let the writers catch up, at times
				}
				if err := r.Broadcast(protocol.Text, message(s, "broadcast", i)); err != nil {
					t.Error(err)
					return
				}
				if err := m.Send(protocol.Text, message(s, "send", i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	var want []string
	for i := range rounds {
		want = append(want, fmt.Sprintf("broadcast %d", i), fmt.Sprintf("send %d", i))
	}
	for s := range senders {
		if diff := cmp.Diff(want, got[s]); diff != "" {
			t.Errorf("member %d: its sender's messages (-want +got):\n%s", s, diff)
		}
	}
}

// smallSendBuffers is a listener of Unix sockets whose send buffers are
// as small as the system allows: a socket then takes a frame in part
// where TCP over loopback would take all or nothing.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if uc, ok := c.(*net.UnixConn); ok {
		_ = uc.SetWriteBuffer(1) // the least the system allows
	}
	return c, err
}
