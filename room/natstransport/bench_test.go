package natstransport_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/natstest"
	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/room/internal/roomtest"
	"github.com/wsmap/wsmap/room/natstransport"
	"github.com/wsmap/wsmap/service"
)

// BenchmarkBroadcast measures one broadcast of a 64-byte text message to
// n members on real loopback sockets, until every member has read it:
// "local", one server whose room holds all n members; "nats", two
// servers sharing the room over a NATS server (in this process), n/2
// members on each, the broadcast made on the first; "-history", the same
// with a room that keeps a history of 1,000 messages (in JetStream, over
// NATS). Members are raw
// clients in this process that count frames without allocating.
// deliveries/s is n × broadcasts per second; cpu-ns/delivery is the
// process's CPU time (servers, NATS and members alike) per delivery.
func BenchmarkBroadcast(b *testing.B) {
	msg := []byte(strings.Repeat("x", 64))
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("members=%d/local", n), func(b *testing.B) {
			hub := roomtest.NewHub(b, &room.Options{QueueSize: 256})
			base := serve(b, benchMember(hub))
			benchBroadcast(b, n, func(int) string { return base }, func() bool {
				r := hub.Room("bench")
				return r != nil && r.Len() == n
			}, func() error { return hub.Room("bench").Broadcast(protocol.Text, msg) })
		})
		b.Run(fmt.Sprintf("members=%d/local-history", n), func(b *testing.B) {
			hub := roomtest.NewHub(b, &room.Options{QueueSize: 256, History: &room.History{Size: 1000}})
			base := serve(b, benchMember(hub))
			benchBroadcast(b, n, func(int) string { return base }, func() bool {
				r := hub.Room("bench")
				return r != nil && r.Len() == n
			}, func() error { return hub.Room("bench").Broadcast(protocol.Text, msg) })
		})
		for _, history := range []bool{false, true} {
			name := "nats"
			if history {
				name = "nats-history" // kept in JetStream
			}
			b.Run(fmt.Sprintf("members=%d/%s", n, name), func(b *testing.B) { benchNATS(b, n, msg, history) })
		}
	}
}

// benchNATS is BenchmarkBroadcast over NATS, with the room's history in
// JetStream or without one.
func benchNATS(b *testing.B, n int, msg []byte, history bool) {
	var ns *natstest.Server
	var hist *room.History
	if history {
		ns, hist = natstest.StartJetStream(b, -1), &room.History{Size: 1000}
	} else {
		ns = startNATS(b, -1)
	}
	opts := testOpts
	opts.HeartbeatInterval, opts.PeerTimeout = time.Second, 10*time.Second
	hub := func() *room.Hub {
		tr, err := natstransport.Connect(ns.URL(), &opts)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = tr.Close() })
		return roomtest.NewHub(b, &room.Options{Transport: tr, QueueSize: 256, History: hist})
	}
	a, c := hub(), hub()
	baseA, baseC := serve(b, benchMember(a)), serve(b, benchMember(c))
	benchBroadcast(b, n, func(i int) string {
		if i%2 == 0 {
			return baseA
		}
		return baseC
	}, func() bool {
		// Everyone in the first server's presence: the second
		// server's subscription is in place.
		r := a.Room("bench")
		return r != nil && len(r.Members()) == n
	}, func() error { return a.Room("bench").Broadcast(protocol.Text, msg) })
}

// benchMember joins the hub's room "bench" and waits for the client to
// leave.
func benchMember(hub *room.Hub) *service.Endpoint {
	return &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		m, err := hub.Join(ctx, "bench", c, nil)
		if err != nil {
			return err
		}
		defer m.Leave()
		_, _, err = c.Recv(ctx)
		return err
	}), Options: &service.Options{PingInterval: -1}}
}

// benchBroadcast connects n raw members, member i to base(i), waits
// until ready holds, then times b.N calls of broadcast, each until every
// member has read its message.
func benchBroadcast(b *testing.B, n int, base func(i int) string, ready func() bool, broadcast func() error) {
	var read atomic.Int64
	delivered := make(chan struct{}, 1)
	for i := range n {
		c, err := wstest.Dial(strings.TrimPrefix(base(i), "ws://"), "/")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		go func() {
			for {
				if _, err := c.SkipFrame(); err != nil {
					return
				}
				if read.Add(1)%int64(n) == 0 {
					delivered <- struct{}{}
				}
			}
		}()
	}
	wstest.WaitFor(b, 30*time.Second, "every member to join", ready)

	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := wstest.CPUTime(b)
	start := time.Now()
	for range b.N {
		if err := broadcast(); err != nil {
			b.Fatal(err)
		}
		select {
		case <-delivered:
		case <-time.After(30 * time.Second):
			b.Fatalf("a broadcast was not delivered: %d of %d frames read", read.Load(), int64(n)*int64(b.N))
		}
	}
	elapsed := time.Since(start)
	cpu := wstest.CPUTime(b) - cpu0
	b.StopTimer()
	deliveries := float64(n) * float64(b.N)
	b.ReportMetric(deliveries/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/deliveries, "cpu-ns/delivery")
}

// BenchmarkCatchUp measures a client coming back, on another server, to
// a room whose history in JetStream holds 1,000 messages of 64 bytes
// since the position it resumes from: from the dial to the 1,000th
// message read, the opening handshake and the reads from JetStream
// included (the server has no copy of its own: each time, the room is
// made anew for the client).
func BenchmarkCatchUp(b *testing.B) {
	const missed = 1000
	ns := natstest.StartJetStream(b, -1)
	hist := &room.History{Size: missed}
	connect := func() *natstransport.Transport {
		tr, err := natstransport.Connect(ns.URL(), &testOpts)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = tr.Close() })
		return tr
	}
	src, err := room.New("catchup", &room.Options{Transport: connect(), History: hist})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	msg := []byte(strings.Repeat("x", 64))
	for range missed {
		if err := src.Broadcast(protocol.Text, msg); err != nil {
			b.Fatal(err)
		}
	}
	wstest.WaitFor(b, 30*time.Second, "the broadcasts to come back", func() bool { return src.Position().Offset == missed })
	from := room.Position{Epoch: src.Position().Epoch}
	hub := roomtest.NewHub(b, &room.Options{Transport: connect(), History: hist})
	addr := strings.TrimPrefix(serve(b, &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		m, err := hub.Resume(ctx, "catchup", c, nil, from)
		if err != nil {
			return err
		}
		defer m.Leave()
		_, _, err = c.Recv(ctx)
		return err
	}), Options: &service.Options{PingInterval: -1}}), "ws://")

	b.ReportAllocs()
	for b.Loop() {
		c, err := wstest.Dial(addr, "/")
		if err != nil {
			b.Fatal(err)
		}
		for i := range missed {
			if _, err := c.SkipFrame(); err != nil {
				b.Fatalf("message %d: %v", i+1, err)
			}
		}
		_ = c.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/missed, "ns/message")
}
