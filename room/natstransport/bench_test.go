package natstransport_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/service"
)

// BenchmarkBroadcast measures one broadcast of a 64-byte text message to
// n members on real loopback sockets, until every member has read it:
// "local", one server whose room holds all n members; "nats", two
// servers sharing the room over a NATS server (in this process), n/2
// members on each, the broadcast made on the first. Members are raw
// clients in this process that count frames without allocating.
// deliveries/s is n × broadcasts per second; cpu-ns/delivery is the
// process's CPU time (servers, NATS and members alike) per delivery.
func BenchmarkBroadcast(b *testing.B) {
	msg := []byte(strings.Repeat("x", 64))
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("members=%d/local", n), func(b *testing.B) {
			hub := room.NewHub(&room.Options{QueueSize: 256})
			base := serve(b, benchMember(hub))
			benchBroadcast(b, n, func(int) string { return base }, func() bool {
				r := hub.Room("bench")
				return r != nil && r.Len() == n
			}, func() error { return hub.Room("bench").Broadcast(protocol.Text, msg) })
		})
		b.Run(fmt.Sprintf("members=%d/nats", n), func(b *testing.B) {
			ns := startNATS(b, -1)
			opts := testOpts
			opts.HeartbeatInterval, opts.PeerTimeout = time.Second, 10*time.Second
			a, c := startNodeWith(b, ns.URL(), opts), startNodeWith(b, ns.URL(), opts)
			baseA, baseC := serve(b, benchMember(a.hub)), serve(b, benchMember(c.hub))
			benchBroadcast(b, n, func(i int) string {
				if i%2 == 0 {
					return baseA
				}
				return baseC
			}, func() bool {
				// Everyone in the first server's presence: the second
				// server's subscription is in place.
				r := a.hub.Room("bench")
				return r != nil && len(r.Members()) == n
			}, func() error { return a.hub.Room("bench").Broadcast(protocol.Text, msg) })
		})
	}
}

// benchMember joins the hub's room "bench" and waits for the client to
// leave.
func benchMember(hub *room.Hub) *service.Endpoint {
	return &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		m, err := hub.Join("bench", c, nil)
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
