package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

var bin string

func TestMain(m *testing.M) { wstest.Main(m, &bin) }

// serve starts a Server with handler h on loopback; the cleanup shuts it
// down.
func serve(t *testing.T, h service.HandlerFunc) (*service.Server, string) {
	t.Helper()
	return serveWith(t, nil, h)
}

// serveWith is serve with the connections configured by opts.
func serveWith(t *testing.T, opts *service.Options, h service.HandlerFunc) (*service.Server, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &service.Server{Handler: &service.Endpoint{Handler: h, Protocols: []string{"echo"}, Options: opts}}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s, "ws://" + l.Addr().String() + "/"
}

// echoWith echoes every message after passing it through alter, which may
// drop it by returning nil.
func echoWith(alter func(n int, data []byte) []byte) service.HandlerFunc {
	return func(ctx context.Context, c *service.Conn) error {
		for n := 0; ; n++ {
			typ, data, err := c.Recv(ctx)
			if err != nil {
				return err
			}
			if data = alter(n, data); data == nil {
				continue
			}
			if err := c.Send(ctx, typ, data); err != nil {
				return err
			}
		}
	}
}

// wsload runs wsload with args, checks that it exits with status, and
// returns the reports it printed, one per line.
func wsload(t *testing.T, status int, args ...string) []Report {
	t.Helper()
	out, err := exec.Command(bin, args...).Output()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("wsload: %v", err)
	}
	if code != status {
		t.Fatalf("wsload exited with status %d, want %d\n%s", code, status, out)
	}
	var reports []Report
	for line := range bytes.Lines(out) {
		var r Report
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		reports = append(reports, r)
	}
	if len(reports) == 0 {
		t.Fatal("wsload printed no report")
	}
	return reports
}

// only returns the one report of reports.
func only(t *testing.T, reports []Report) Report {
	t.Helper()
	if len(reports) != 1 {
		t.Fatalf("%d reports, want 1: %+v", len(reports), reports)
	}
	return reports[0]
}

// ignoreVarying leaves out what differs from run to run.
var ignoreVarying = cmpopts.IgnoreFields(Report{}, "LatencyUS", "Seconds", "PerSecond", "Errors")

func TestEcho(t *testing.T) {
	t.Parallel()
	_, url := serve(t, echoWith(func(_ int, d []byte) []byte { return d }))
	got := only(t, wsload(t, 0, "-conns", "20", "-messages", "50", "-window", "4", "-size", "64", "-protocols", "echo", url))
	want := Report{Phase: "exchange", Mode: "echo", Conns: 20, Connected: 20, Messages: 1000}
	if diff := cmp.Diff(want, got, ignoreVarying); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	if got.LatencyUS == nil || got.LatencyUS.P50 <= 0 || got.LatencyUS.P50 > got.LatencyUS.Max {
		t.Errorf("latency %+v", got.LatencyUS)
	}
}

// TestCountsWhatGoesWrong has the server drop, corrupt and add messages:
// wsload counts each and exits with status 1.
func TestCountsWhatGoesWrong(t *testing.T) {
	t.Parallel()
	_, url := serve(t, echoWith(func(n int, d []byte) []byte {
		switch n {
		case 5:
			return nil // lost
		case 7:
			d[20] ^= 1 // corrupted
		}
		return d
	}))
	got := only(t, wsload(t, 1, "-conns", "3", "-messages", "20", "-protocols", "echo", "-window", "2", url))
	// Each connection: message 5 lost (noticed when 6 arrives, which the
	// window of 2 lets go out), 7 corrupted, the other 18 verified.
	want := Report{Phase: "exchange", Mode: "echo", Conns: 3, Connected: 3, Messages: 54, Lost: 3, Corrupted: 3}
	if diff := cmp.Diff(want, got, ignoreVarying); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
}

// TestInflightBound checks that -inflight bounds the messages in flight
// across all connections: the server never holds more than that many
// received and not yet echoed, although the connections and windows
// would allow 80.
func TestInflightBound(t *testing.T) {
	t.Parallel()
	var pending, peak atomic.Int64
	_, url := serve(t, echoWith(func(_ int, d []byte) []byte {
		n := pending.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(time.Millisecond)
		pending.Add(-1)
		return d
	}))
	got := only(t, wsload(t, 0, "-conns", "20", "-messages", "30", "-window", "4", "-inflight", "3", "-protocols", "echo", url))
	want := Report{Phase: "exchange", Mode: "echo", Conns: 20, Connected: 20, Messages: 600}
	if diff := cmp.Diff(want, got, ignoreVarying); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	if p := peak.Load(); p > 3 || p < 2 {
		t.Errorf("server held up to %d messages at once, want 2 or 3 (-inflight 3)", p)
	}
}

// TestInflightFreedByFailedConnection has the server fail one connection
// mid-exchange under -inflight 1: the slot its unanswered message held is
// given back, and the other connections finish.
func TestInflightFreedByFailedConnection(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	_, url := serve(t, func(ctx context.Context, c *service.Conn) error {
		first := conns.Add(1) == 1
		for n := 0; ; n++ {
			typ, data, err := c.Recv(ctx)
			if err != nil {
				return err
			}
			if first && n == 2 {
				return &service.CloseError{Code: protocol.CloseInternalError, Reason: "gave up"}
			}
			if err := c.Send(ctx, typ, data); err != nil {
				return err
			}
		}
	})
	got := only(t, wsload(t, 1, "-conns", "5", "-messages", "10", "-inflight", "1", "-timeout", "20s", "-protocols", "echo", url))
	want := Report{Phase: "exchange", Mode: "echo", Conns: 5, Connected: 5, Messages: 42, Lost: 8, ConnErrors: 1}
	if diff := cmp.Diff(want, got, ignoreVarying); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	if got.Seconds > 10 {
		t.Errorf("exchange took %.1fs: the failed connection's slot was not given back", got.Seconds)
	}
}

// follow runs cmd, a wsload that must succeed, and returns its reports,
// calling each as it is printed: a test acts while wsload still runs.
func follow(t *testing.T, cmd *exec.Cmd, each func(Report)) []Report {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	var reports []Report
	for lines.Scan() {
		var r Report
		if err := json.Unmarshal(lines.Bytes(), &r); err != nil {
			t.Fatalf("%v: %s", err, lines.Bytes())
		}
		each(r)
		reports = append(reports, r)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	return reports
}

// TestHoldReportsCloseCodes keeps the connections open after the exchange
// and reports how the server closed them.
func TestHoldReportsCloseCodes(t *testing.T) {
	t.Parallel()
	srv, url := serve(t, echoWith(func(_ int, d []byte) []byte { return d }))
	cmd := exec.Command(bin, "-conns", "30", "-messages", "5", "-hold", "-timeout", "20s", "-protocols", "echo", url)
	reports := follow(t, cmd, func(r Report) {
		if r.Phase == "exchange" {
			if srv.Len() != 30 {
				t.Errorf("%d connections open after the exchange, want 30", srv.Len())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := srv.Shutdown(ctx); err != nil {
				t.Error(err)
			}
			cancel()
		}
	})
	want := []Report{
		{Phase: "exchange", Mode: "echo", Conns: 30, Connected: 30, Messages: 150},
		{Phase: "hold", Mode: "echo", Conns: 30, Connected: 30, Messages: 150, CloseCodes: map[string]int{strconv.Itoa(int(protocol.CloseGoingAway)): 30}},
	}
	if diff := cmp.Diff(want, reports, ignoreVarying); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
}

// TestIdle holds connections open without messages, while the server
// sees them all, then closes them.
func TestIdle(t *testing.T) {
	t.Parallel()
	srv, url := serve(t, echoWith(func(_ int, d []byte) []byte { return d }))
	cmd := exec.Command(bin, "-mode", "idle", "-conns", "25", "-idle", "1s", "-protocols", "echo", url)
	reports := follow(t, cmd, func(r Report) {
		if r.Phase == "idle" && srv.Len() != 25 {
			t.Errorf("server holds %d connections while idle, want 25", srv.Len())
		}
		if r.Phase == "idle" && (r.LatencyUS == nil || r.LatencyUS.P50 <= 0) {
			t.Errorf("no handshake latencies: %+v", r.LatencyUS)
		}
	})
	want := []Report{
		{Phase: "idle", Mode: "idle", Conns: 25, Connected: 25},
		{Phase: "hold", Mode: "idle", Conns: 25, Connected: 25, CloseCodes: map[string]int{"open at timeout": 25}},
	}
	if diff := cmp.Diff(want, reports, ignoreVarying); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
	if !wstest.Settle(5*time.Second, func() bool { return srv.Len() == 0 }) {
		t.Errorf("%d connections left on the server", srv.Len())
	}
}

// TestIdleAliveAndShutdown checks every idle connection with an echo,
// then reports the code each was closed with by the server's shutdown.
func TestIdleAliveAndShutdown(t *testing.T) {
	t.Parallel()
	srv, url := serve(t, echoWith(func(_ int, d []byte) []byte { return d }))
	cmd := exec.Command(bin, "-mode", "idle", "-conns", "20", "-idle", "500ms", "-alive", "-hold", "-timeout", "20s", "-protocols", "echo", url)
	reports := follow(t, cmd, func(r Report) {
		if r.Phase == "alive" {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := srv.Shutdown(ctx); err != nil {
				t.Error(err)
			}
			cancel()
		}
	})
	want := []Report{
		{Phase: "idle", Mode: "idle", Conns: 20, Connected: 20},
		{Phase: "hold", Mode: "idle", Conns: 20, Connected: 20, CloseCodes: map[string]int{"open at timeout": 20}},
		{Phase: "alive", Mode: "idle", Conns: 20, Connected: 20, Messages: 20, CloseCodes: map[string]int{"open at timeout": 20}},
		{Phase: "closed", Mode: "idle", Conns: 20, Connected: 20, CloseCodes: map[string]int{strconv.Itoa(int(protocol.CloseGoingAway)): 20}},
	}
	if diff := cmp.Diff(want, reports, ignoreVarying); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
}

// TestIdleReportsDroppedConnections has the server close connections
// during the idle phase: wsload reports their codes and exits with 1.
func TestIdleReportsDroppedConnections(t *testing.T) {
	t.Parallel()
	_, url := serve(t, func(ctx context.Context, c *service.Conn) error {
		return &service.CloseError{Code: protocol.CloseTryAgainLater, Reason: "busy"}
	})
	reports := wsload(t, 1, "-mode", "idle", "-conns", "5", "-idle", "5s", url)
	last := reports[len(reports)-1]
	if diff := cmp.Diff(map[string]int{"1013": 5}, last.CloseCodes); diff != "" {
		t.Errorf("close codes (-want +got):\n%s", diff)
	}
}

// TestHandshakes opens and closes connections one after another: the
// server sees each one, and each closes with 1000.
func TestHandshakes(t *testing.T) {
	t.Parallel()
	var served, normal atomic.Int64
	_, url := serve(t, func(ctx context.Context, c *service.Conn) error {
		served.Add(1)
		_, _, err := c.Recv(ctx)
		if code, _ := service.CloseStatus(err); code == protocol.CloseNormal {
			normal.Add(1)
		}
		return err
	})
	got := only(t, wsload(t, 0, "-mode", "handshake", "-conns", "200", "-dial-parallel", "8", "-protocols", "echo", url))
	want := Report{Phase: "handshake", Mode: "handshake", Conns: 200, Connected: 200}
	if diff := cmp.Diff(want, got, ignoreVarying, cmpopts.IgnoreFields(Report{}, "Handshakes")); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	if got.Handshakes <= 0 || got.LatencyUS == nil || got.LatencyUS.P50 <= 0 {
		t.Errorf("no rate or latencies: %.0f/s, %+v", got.Handshakes, got.LatencyUS)
	}
	if !wstest.Settle(5*time.Second, func() bool { return normal.Load() == 200 }) {
		t.Errorf("server served %d connections, %d closed with 1000; want 200", served.Load(), normal.Load())
	}
}

func TestBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{},
		{"-mode", "flood", "ws://127.0.0.1:1/"},
		{"-size", "8", "ws://127.0.0.1:1/"},
		{"-conns", "0", "ws://127.0.0.1:1/"},
		{"-inflight", "-1", "ws://127.0.0.1:1/"},
		{"-mode", "idle", "-idle", "0s", "ws://127.0.0.1:1/"},
		{"-mode", "rpc", "-method", "mul", "ws://127.0.0.1:1/"},
	} {
		var stderr bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || stderr.Len() == 0 {
			t.Errorf("wsload %q: %v, stderr %q; want status 2 and a message", args, err, stderr.String())
		}
	}
}
