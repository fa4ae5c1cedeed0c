package room_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/olahol/melody"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/room/internal/roomtest"
	"github.com/wsmap/wsmap/service"
)

// BenchmarkBroadcast measures broadcasts of a 64-byte text message to n
// members on real loopback sockets, window of them in flight (a
// broadcast is in flight until every member has read it), for a wsmap
// room with the default options and for melody
// (github.com/olahol/melody) in the same run: one at a time (window=1),
// and under sustained load (window=16). Members are raw clients in a
// child process that count frames without allocating, so allocs/op are
// the server's alone. deliveries/s is n × broadcasts per second;
// cpu-ns/delivery is the CPU time the server process spent per delivery.
func BenchmarkBroadcast(b *testing.B) {
	msg := []byte(strings.Repeat("x", 64))
	for _, load := range []struct{ n, window int }{{10, 1}, {1000, 1}, {10000, 1}, {1000, 16}, {10000, 16}} {
		n, window := load.n, load.window
		name := fmt.Sprintf("members=%d/window=%d", n, window)
		b.Run(name+"/wsmap", func(b *testing.B) { benchRoom(b, n, window, msg, nil) })
		if n == 1000 {
			// The cost of keeping the room's history.
			b.Run(name+"/wsmap-history", func(b *testing.B) {
				benchRoom(b, n, window, msg, &room.Options{History: &room.History{Size: 1000}})
			})
		}
		b.Run(name+"/melody", func(b *testing.B) {
			m := melody.New()
			m.Config.MessageBufferSize = 256
			ready := make(chan struct{}, n)
			m.HandleConnect(func(*melody.Session) { ready <- struct{}{} })
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _ = m.HandleRequest(w, r) })
			benchBroadcast(b, n, window, h, ready, func() error { return m.Broadcast(msg) }, func() bool { return m.Len() == 0 })
			_ = m.Close()
		})
	}
}

// benchRoom is BenchmarkBroadcast's wsmap server: a Hub made with opts.
func benchRoom(b *testing.B, n, window int, msg []byte, opts *room.Options) {
	hub := roomtest.NewHub(b, opts)
	ready := make(chan struct{}, n)
	h := &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		m, err := hub.Join(ctx, "bench", c, nil)
		if err != nil {
			return err
		}
		defer m.Leave()
		ready <- struct{}{}
		_, _, err = c.Recv(ctx)
		return err
	}), Options: &service.Options{PingInterval: -1}}
	benchBroadcast(b, n, window, h, ready, func() error { return hub.Room("bench").Broadcast(protocol.Text, msg) },
		func() bool { r := hub.Room("bench"); return r == nil || r.Len() == 0 })
}

// The members of a broadcast benchmark live in a child process (this
// test binary, run again with these variables set), so that 10,000 of
// them and the server's 10,000 ends fit the per-process file limit.
const (
	membersAddrEnv = "WSMAP_BENCH_MEMBERS_ADDR"
	membersNEnv    = "WSMAP_BENCH_MEMBERS"
)

// runMembers is the child process: it connects n raw clients to addr,
// each counting the frames it reads without allocating, and writes one
// byte to stdout whenever every client has read one more frame. It
// returns when stdin closes.
func runMembers(addr string, n int) int {
	clients := make([]*wstest.Conn, n)
	for i := range clients {
		c, err := wstest.Dial(addr, "/")
		if err != nil {
			fmt.Fprintln(os.Stderr, "member:", err)
			return 1
		}
		clients[i] = c
	}
	var read atomic.Int64
	for _, c := range clients {
		go func() {
			for {
				if _, err := c.SkipFrame(); err != nil {
					return
				}
				if read.Add(1)%int64(n) == 0 {
					_, _ = os.Stdout.Write([]byte{'.'})
				}
			}
		}()
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// benchBroadcast starts h on loopback, connects n members to it from a
// child process, waits for n ready signals, then times b.N calls of
// broadcast, keeping up to window of them in flight: a call waits, once
// window are, until every member has read one more message. At the end it
// ends the child and waits until drained reports that the server has let
// go of the members.
func benchBroadcast(b *testing.B, n, window int, h http.Handler, ready chan struct{}, broadcast func() error, drained func() bool) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), membersAddrEnv+"="+l.Addr().String(), fmt.Sprintf("%s=%d", membersNEnv, n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	delivered := make(chan struct{}, 1)
	go func() {
		var buf [1]byte
		for {
			if _, err := stdout.Read(buf[:]); err != nil {
				exited <- cmd.Wait()
				return
			}
			delivered <- struct{}{}
		}
	}()
	wait := func(c chan struct{}, what string) {
		select {
		case <-c:
		case err := <-exited:
			b.Fatalf("members exited (%v) before %s", err, what)
		case <-time.After(60 * time.Second):
			b.Fatalf("timed out waiting for %s", what)
		}
	}
	for i := range n {
		wait(ready, fmt.Sprintf("member %d to join", i+1))
	}

	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := wstest.CPUTime(b) // the server's: the members run in another process
	start := time.Now()
	inflight := 0
	for range b.N {
		if err := broadcast(); err != nil {
			b.Fatal(err)
		}
		if inflight++; inflight == window {
			wait(delivered, "a broadcast to be delivered")
			inflight--
		}
	}
	for ; inflight > 0; inflight-- {
		wait(delivered, "a broadcast to be delivered")
	}
	elapsed := time.Since(start)
	cpu := wstest.CPUTime(b) - cpu0
	b.StopTimer()
	deliveries := float64(n) * float64(b.N)
	b.ReportMetric(deliveries/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/deliveries, "cpu-ns/delivery")

	stdin.Close()
	if err := <-exited; err != nil {
		b.Fatalf("members: %v", err)
	}
	for i := 0; !drained(); i++ {
		if i == 3000 {
			b.Fatal("the server did not let go of the members")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkCatchUp measures a client coming back to a room that has
// broadcast 1,000 messages since the position it resumes from: from the
// dial to the 1,000th message read (the opening handshake included).
func BenchmarkCatchUp(b *testing.B) {
	const missed = 1000
	r, err := room.New("catchup", &room.Options{History: &room.History{Size: missed}})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	msg := []byte(strings.Repeat("x", 64))
	for range missed {
		if err := r.Broadcast(protocol.Text, msg); err != nil {
			b.Fatal(err)
		}
	}
	from := room.Position{Epoch: r.Position().Epoch}
	h := &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		m, err := r.Resume(ctx, c, nil, from)
		if err != nil {
			return err
		}
		defer m.Leave()
		_, _, err = c.Recv(ctx)
		return err
	}), Options: &service.Options{PingInterval: -1}}
	addr := strings.TrimPrefix(serve(b, h), "ws://")

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
		c.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/missed, "ns/message")
}
