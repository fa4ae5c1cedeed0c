package room_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/olahol/melody"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/service"
)

// BenchmarkBroadcast measures one broadcast of a 64-byte text message to
// n members on real loopback sockets, until every member has read it,
// for a wsmap room and for melody (github.com/olahol/melody) in the same
// run. Members are raw clients that count frames without allocating, so
// allocs/op are the servers'. deliveries/s is n × broadcasts per second.
func BenchmarkBroadcast(b *testing.B) {
	msg := []byte(strings.Repeat("x", 64))
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("members=%d/wsmap", n), func(b *testing.B) {
			hub := room.NewHub(room.Options{QueueSize: 256})
			ready := make(chan struct{}, n)
			h := &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
				m, err := hub.Join("bench", c, nil)
				if err != nil {
					return err
				}
				defer m.Leave()
				ready <- struct{}{}
				_, _, err = c.Recv(ctx)
				return err
			}), Options: service.Options{PingInterval: -1}}
			benchBroadcast(b, n, h, ready, func() error { return hub.Room("bench").Broadcast(protocol.Text, msg) },
				func() bool { return hub.Room("bench") == nil })
		})
		b.Run(fmt.Sprintf("members=%d/melody", n), func(b *testing.B) {
			m := melody.New()
			m.Config.MessageBufferSize = 256
			ready := make(chan struct{}, n)
			m.HandleConnect(func(*melody.Session) { ready <- struct{}{} })
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _ = m.HandleRequest(w, r) })
			benchBroadcast(b, n, h, ready, func() error { return m.Broadcast(msg) }, func() bool { return m.Len() == 0 })
			_ = m.Close()
		})
	}
}

// benchBroadcast connects n raw clients to h, waits for n ready signals,
// then times b.N calls of broadcast, each until every client has read
// its message. At the end it closes the clients and waits until drained
// reports that the server has let go of them.
func benchBroadcast(b *testing.B, n int, h http.Handler, ready chan struct{}, broadcast func() error, drained func() bool) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	clients := make([]*wstest.Conn, n)
	for i := range clients {
		c, err := wstest.Dial(l.Addr().String(), "/")
		if err != nil {
			b.Fatal(err)
		}
		clients[i] = c
	}
	for range n {
		<-ready
	}
	// Each client counts the frames it reads; the last one to read a
	// broadcast signals it.
	var pending atomic.Int64
	done := make(chan struct{}, 1)
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			for {
				if _, err := c.SkipFrame(); err != nil {
					return
				}
				if pending.Add(-1) == 0 {
					done <- struct{}{}
				}
			}
		})
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		pending.Store(int64(n))
		if err := broadcast(); err != nil {
			b.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			b.Fatalf("broadcast not delivered: %d members waiting", pending.Load())
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(n)*float64(b.N)/elapsed.Seconds(), "deliveries/s")
	for _, c := range clients {
		c.Close()
	}
	wg.Wait()
	for i := 0; !drained(); i++ {
		if i == 1000 {
			b.Fatal("the server did not let go of the clients")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
