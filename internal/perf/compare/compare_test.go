package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/wstest"
)

// TestServersEcho puts a small load on each server, with messages small
// enough for one frame and large enough for the client to fragment them:
// wsload checks every echo byte for byte, so a server that mangles a
// frame fails here before it is ever measured.
func TestServersEcho(t *testing.T) {
	wstest.Long(t)
	bins, err := build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []string{"16", "125", "126", "65535", "65536", "200000"} {
		sc := scenario{
			name: "echo", path: "/echo",
			args: []string{"-conns", "4", "-messages", "20", "-size", size, "-window", "2", "-protocols", "echo"},
		}
		for _, impl := range []string{"wsmap", "wsmap-into", "wsmap-otel-1.0", "gorilla", "tcp"} {
			t.Run(impl+"/"+size, func(t *testing.T) {
				r, err := measure(bins, sc, impl, "")
				if err != nil {
					t.Fatal(err)
				}
				if r.report.Messages != 80 {
					t.Errorf("%d echoes verified, want 80", r.report.Messages)
				}
				if r.rssBefore <= 0 {
					t.Errorf("resident memory %d KiB", r.rssBefore)
				}
			})
		}
	}
}

// TestServersIdleAndHandshake runs the idle and handshake loads small.
func TestServersIdleAndHandshake(t *testing.T) {
	wstest.Long(t)
	bins, err := build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	idle := scenario{name: "idle", path: "/echo", args: []string{"-mode", "idle", "-conns", "200", "-idle", "1500ms", "-protocols", "echo"}}
	shake := scenario{name: "handshake", path: "/echo", args: []string{"-mode", "handshake", "-conns", "100", "-protocols", "echo"}}
	for _, impl := range []string{"wsmap", "gorilla"} {
		r, err := measure(bins, idle, impl, "")
		if err != nil {
			t.Fatalf("%s idle: %v", impl, err)
		}
		if r.report.Connected != 200 || r.rssIdle < r.rssBefore {
			t.Errorf("%s idle: %d connected, resident memory %d KiB then %d KiB", impl, r.report.Connected, r.rssBefore, r.rssIdle)
		}
		r, err = measure(bins, shake, impl, "")
		if err != nil {
			t.Fatalf("%s handshake: %v", impl, err)
		}
		if r.report.Connected != 100 || r.report.Handshakes <= 0 {
			t.Errorf("%s handshake: %d connected at %.0f/s", impl, r.report.Connected, r.report.Handshakes)
		}
	}
}

// TestServersBroadcast runs the broadcast load small on wsmap's room and
// on the melody reference: every member receives every message.
func TestServersBroadcast(t *testing.T) {
	wstest.Long(t)
	bins, err := build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sc := scenario{name: "broadcast", path: "/room", args: []string{"-mode", "broadcast", "-conns", "30", "-messages", "40", "-window", "4", "-protocols", "echo"}}
	for _, impl := range []string{"wsmap", "melody"} {
		r, err := measure(bins, sc, impl, "")
		if err != nil {
			t.Fatalf("%s: %v", impl, err)
		}
		if r.report.Messages != 30*40 || r.report.PerSecond <= 0 {
			t.Errorf("%s: %d deliveries at %.0f/s, want %d", impl, r.report.Messages, r.report.PerSecond, 30*40)
		}
	}
}

// TestServersRPC runs the JSON-RPC load small on wsmap's message layer
// and on both jsonrpc2 references, each method: wsload checks every
// answer's id and result. It also has each server write a CPU profile.
func TestServersRPC(t *testing.T) {
	wstest.Long(t)
	dir := t.TempDir()
	bins, err := build(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"add", "echo"} {
		sc := scenario{name: "rpc", path: "/rpc", args: []string{"-mode", "rpc", "-conns", "4", "-window", "16", "-messages", "200", "-method", method, "-size", "300", "-protocols", "jsonrpc"}}
		for _, impl := range []string{"wsmap", "jsonrpc2", "jsonrpc2-inline"} {
			t.Run(impl+"/"+method, func(t *testing.T) {
				prof := filepath.Join(dir, impl+"-"+method+".pprof")
				r, err := measure(bins, sc, impl, prof)
				if err != nil {
					t.Fatal(err)
				}
				if r.report.Phase != "rpc" || r.report.Messages != 800 || r.report.PerSecond <= 0 || r.report.Latency.P50 <= 0 {
					t.Errorf("%+v, want phase rpc, 800 calls answered, their rate and latency", r.report)
				}
				if fi, err := os.Stat(prof); err != nil || fi.Size() == 0 {
					t.Errorf("CPU profile: %v, %v", fi, err)
				}
			})
		}
	}
}

func TestCPUTimeAndRSS(t *testing.T) {
	cpu, err := cpuTime(os.Getpid())
	if err != nil || cpu < 0 {
		t.Fatalf("cpuTime: %v, %v", cpu, err)
	}
	kib, err := rss(os.Getpid())
	if err != nil || kib <= 0 {
		t.Fatalf("rss: %d, %v", kib, err)
	}
	got, err := parseRSS(strings.NewReader("Name:\tx\nVmPeak:\t  100 kB\nVmRSS:\t   2048 kB\n"))
	if err != nil || got != 2048 {
		t.Errorf("parseRSS = %d, %v; want 2048", got, err)
	}
	if _, err := parseRSS(strings.NewReader("Name:\tx\n")); err == nil {
		t.Error("parseRSS without VmRSS: no error")
	}
}

func TestMedian(t *testing.T) {
	got := []float64{median([]float64{3, 1, 2}), median([]float64{4, 1, 3, 2})}
	if diff := cmp.Diff([]float64{2, 2.5}, got); diff != "" {
		t.Error(diff)
	}
}
