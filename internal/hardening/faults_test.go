package hardening

import (
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/service"
)

// fault is one way a connection can go wrong; run makes it happen against
// tg and checks what the client can see of the server's answer.
type fault struct {
	name string
	run  func(tg *target) error
}

var faults = []fault{
	{"reset mid-message", func(tg *target) error {
		c, err := wstest.Dial(tg.addr, "/echo")
		if err != nil {
			return err
		}
		// Half a frame, then an RST instead of the rest.
		b := wstest.Encode(wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Payload: make([]byte, 1000)})
		if _, err := c.Write(b[:500]); err != nil {
			return err
		}
		_ = c.Conn.(*net.TCPConn).SetLinger(0)
		return c.Close()
	}},
	{"vanish mid-message", func(tg *target) error {
		c, err := wstest.Dial(tg.addr, "/echo")
		if err != nil {
			return err
		}
		b := wstest.Encode(wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte(strings.Repeat("x", 300))})
		if _, err := c.Write(b[:100]); err != nil {
			return err
		}
		return c.Close()
	}},
	{"vanish between messages", func(tg *target) error {
		c, err := wstest.Dial(tg.addr, "/hold")
		if err != nil {
			return err
		}
		return c.Close()
	}},
	{"stop reading", func(tg *target) error {
		// The server sends 64 KiB messages to a client that reads none:
		// once the socket buffers are full, the write timeout ends it.
		c, err := wstest.Dial(tg.addr, "/send")
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		// Read nothing until the server gives up and closes, then drain.
		buf := make([]byte, 1)
		if _, err := c.Conn.Read(buf); err != nil {
			return err
		}
		time.Sleep(faultWriteTimeout * 3)
		if _, err := io.Copy(io.Discard, c.Conn); err != nil && !isReset(err) {
			return fmt.Errorf("the server did not end the connection: %w", err)
		}
		return nil
	}},
	{"handler panics", func(tg *target) error {
		c, err := wstest.Dial(tg.addr, "/panic")
		if err != nil {
			return err
		}
		defer c.Close()
		f, err := c.ExpectClose(10 * time.Second)
		if err != nil {
			return err
		}
		if f.CloseCode() != 1011 {
			return fmt.Errorf("closed with %d %q, want 1011", f.CloseCode(), f.CloseReason())
		}
		_ = c.WriteClose(1011, "")
		return c.ExpectEOF(10 * time.Second)
	}},
	{"handshake cut short", func(tg *target) error {
		nc, err := net.Dial("tcp", tg.addr)
		if err != nil {
			return err
		}
		_, _ = io.WriteString(nc, "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: webs")
		return nc.Close()
	}},
}

// faultWriteTimeout is the targets' write timeout in the fault tests.
const faultWriteTimeout = 300 * time.Millisecond

func isReset(err error) bool { return strings.Contains(err.Error(), "connection reset") }

// TestFaultsLeaveNothingBehind runs 10,000 faulty connections, each fault
// in turn, many at once, and checks that every handler returned and that
// goroutines and the live heap come back to where they were.
func TestFaultsLeaveNothingBehind(t *testing.T) {
	wstest.Long(t)
	tg := startTarget(t, service.Options{WriteTimeout: faultWriteTimeout, ReadLimit: 1 << 20}, 2*time.Second)
	tg.healthy(t)
	const total, parallel = 10000, 200
	// "stop reading" fills socket buffers and waits out the write
	// timeout: it runs on one connection in 50, 20 at a time, beside the
	// others.
	const slow, slowParallel = total / 50, 20
	before := measure()
	start := time.Now()
	counts := make([]atomic.Int64, len(faults))
	errs := make(chan error, total)
	var all sync.WaitGroup
	run := func(batch []int) {
		var wg sync.WaitGroup
		for _, k := range batch {
			counts[k].Add(1)
			f := faults[k]
			wg.Go(func() {
				if err := f.run(tg); err != nil {
					errs <- fmt.Errorf("%s: %w", f.name, err)
				}
			})
		}
		wg.Wait()
	}
	const stopReading = 3
	all.Go(func() {
		for done := 0; done < slow; done += slowParallel {
			run(slices.Repeat([]int{stopReading}, slowParallel))
		}
	})
	var quick []int
	for i := 0; len(quick) < total-slow; i++ {
		if k := i % len(faults); k != stopReading {
			quick = append(quick, k)
		}
	}
	all.Go(func() {
		for batch := range slices.Chunk(quick, parallel) {
			run(batch)
		}
	})
	all.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for k, f := range faults {
		t.Logf("%5d × %s", counts[k].Load(), f.name)
	}
	t.Logf("%d connections in %v", total, time.Since(start).Round(time.Millisecond))
	if !wstest.Settle(10*time.Second, func() bool { return tg.handlers.Load() == 0 && tg.srv.Len() == 0 }) {
		t.Fatalf("%d handlers running, %d connections registered after the faults", tg.handlers.Load(), tg.srv.Len())
	}
	if n, want := tg.panics.Load(), counts[4].Load(); n != want {
		t.Errorf("%d panics, want %d", n, want)
	}
	// Each panic is reported once, and the other faults are the peer's,
	// not the handlers' failures.
	if n, want := tg.reported.Load(), counts[4].Load(); n != want {
		t.Errorf("%d failures reported, want one per panic: %d", n, want)
	}
	before.returnsTo(t, 10*time.Second, 2, 2<<20)
	tg.healthy(t)
}
