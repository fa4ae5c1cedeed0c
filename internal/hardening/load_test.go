package hardening

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/service"
)

// loadReport is the part of examples/wsload's JSON report checked here.
type loadReport struct {
	Phase      string         `json:"phase"`
	Connected  int            `json:"connected"`
	DialErrors int            `json:"dial_errors"`
	Messages   int            `json:"messages"`
	Lost       int            `json:"lost"`
	Reordered  int            `json:"reordered"`
	Corrupted  int            `json:"corrupted"`
	ConnErrors int            `json:"conn_errors"`
	Errors     map[string]int `json:"errors"`
	CloseCodes map[string]int `json:"close_codes"`
	Seconds    float64        `json:"seconds"`
	LatencyUS  map[string]int `json:"latency_us"`
}

// TestLoad10000 holds 10,000 concurrent connections through the mux,
// each exchanging sequence-numbered messages with the echo route, checked
// end to end by examples/wsload in another process (built without the
// race detector). At most 1,000 messages are in flight at once, across
// all connections: a closed loop within what two cores running the
// race-instrumented server can turn round, rather than a queue so deep
// that a round trip waits longer than the write and pong timeouts (10s)
// for CPU and the server rightly drops the connection. Then Shutdown closes them all with 1001 and every
// handler returns within its context.
func TestLoad10000(t *testing.T) {
	wstest.Long(t)
	const conns, messages = 10000, 10
	// Shutdown runs 10,000 closing handshakes at once, on two cores
	// shared with the client and the race detector: they take 3 to 5
	// seconds, so the close timeout is raised from its 5s, lest a peer
	// whose answer is merely late be cut off (and reset, losing the 1001
	// it has not read yet).
	tg := startTarget(t, service.Options{CloseTimeout: 20 * time.Second}, 10*time.Second)
	tg.healthy(t)
	before := measure()
	bin, err := wstest.BuildPackage(t.TempDir(), "../../examples/wsload", false)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cmd := exec.Command(bin, "-conns", fmt.Sprint(conns), "-messages", fmt.Sprint(messages),
		"-window", "2", "-inflight", "1000", "-size", "128", "-protocols", "echo", "-dial-parallel", "128",
		// The client's keepalive is not what is tested: its pongs wait
		// behind 10,000 connections' traffic and closing handshakes on
		// two cores that other tests share, which can take longer than
		// the default 10s, and a client that gives up closes with 1006.
		"-pong-timeout", "60s",
		"-hold", "-timeout", "90s", tg.url+"/echo")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stdout)
	next := func() loadReport {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("wsload printed no report: %v", lines.Err())
		}
		var r loadReport
		if err := json.Unmarshal(lines.Bytes(), &r); err != nil {
			t.Fatalf("%v: %s", err, lines.Bytes())
		}
		return r
	}

	ex := next()
	t.Logf("exchange: %d connections, %d messages in %.1fs, round trip µs %v", ex.Connected, ex.Messages, ex.Seconds, ex.LatencyUS)
	want := loadReport{Phase: "exchange", Connected: conns, Messages: conns * messages}
	if diff := cmp.Diff(want, ex, cmp.FilterPath(func(p cmp.Path) bool {
		switch p.Last().String() {
		case ".Seconds", ".LatencyUS":
			return true
		}
		return false
	}, cmp.Ignore())); diff != "" {
		t.Fatalf("exchange report (-want +got):\n%s\nhow the server's handlers ended: %v", diff, tg.endings())
	}
	if n, h := tg.srv.Len(), tg.handlers.Load(); n != conns || h != conns {
		t.Fatalf("%d connections registered, %d handlers running; want %d\nhow the server's handlers ended: %v", n, h, conns, tg.endings())
	}
	peak := runtime.NumGoroutine()
	t.Logf("%d goroutines serving %d connections", peak, conns)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	shutStart := time.Now()
	// Shutdown closes every connection on a goroutine of its own, beside
	// its handler's: the most goroutines that ever ran at once, whose
	// descriptors the runtime keeps, is measured during it.
	shutDone := make(chan struct{})
	peakSeen := make(chan int, 1)
	go func() {
		most := peak
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			most = max(most, runtime.NumGoroutine())
			select {
			case <-shutDone:
				peakSeen <- most
				return
			case <-tick.C:
			}
		}
	}()
	err = tg.srv.Shutdown(ctx)
	close(shutDone)
	peak = <-peakSeen
	if err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	t.Logf("at most %d goroutines at once during the shutdown", peak)
	t.Logf("shutdown of %d connections: %v; how the handlers ended: %v", conns, time.Since(shutStart).Round(time.Millisecond), tg.endings())
	if h := tg.handlers.Load(); h != 0 {
		t.Errorf("%d handlers running after Shutdown returned", h)
	}

	hold := next()
	if diff := cmp.Diff(map[string]int{"1001": conns}, hold.CloseCodes); diff != "" {
		t.Errorf("close codes the clients saw (-want +got):\n%s", diff)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("wsload: %v", err)
	}
	t.Logf("whole test: %v", time.Since(start).Round(time.Millisecond))
	// The runtime keeps the descriptor of every goroutine that has run
	// (about 480 bytes each) for reuse, for good: allow for them.
	before.returnsTo(t, 20*time.Second, 4, 2<<20+uint64(peak)*512)
}

// testWriter sends a subprocess's stderr to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}
