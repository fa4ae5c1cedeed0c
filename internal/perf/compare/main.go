// Command compare measures wsmap's server against the reference servers
// (internal/perf/refserver: plain gorilla/websocket, lxzan/gws, a
// minimal frame echo over TCP, for broadcasts a melody hub and a gws
// room, and for JSON-RPC calls sourcegraph/jsonrpc2) under the same load
// from examples/wsload, and prints medians and ratios as Markdown tables.
//
// Usage:
//
//	go run ./internal/perf/compare [-rounds 5] [-scenarios echo128,echo64k,idle,handshake,broadcast,sustained-1k-w16,rpc,...] [-profile DIR]
//
// With -profile, each server writes a CPU profile of its run into DIR,
// named after the scenario, the server and the round
// (rpc-wsmap-1.pprof), for go tool pprof.
//
// Each server runs in a process of its own, started afresh for every
// measurement; its CPU time (user + system) and resident memory are read
// from /proc before and after the load. Within a round the servers run
// one after another, in an order that rotates from round to round, so
// that none always runs first. Ratios are against each scenario's
// references (plain gorilla, gws, melody), taken round by round (the
// runs of a round are close in time) and summarised by their median and
// range.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A scenario is one load and the figure it is judged by.
type scenario struct {
	name  string
	impls []string // servers to compare
	refs  []string // the references among them, the first the main one
	args  []string // wsload's flags
	// implArgs are more of wsload's flags for some servers (a variant of
	// the load, such as stalled members).
	implArgs map[string][]string
	path     string
	// metric computes the figure (lower is better) from a run.
	metric func(r run) float64
	unit   string
	desc   string
	// latency: also compare deliveries per second (or rate) and the
	// latencies' p50 and p99.
	latency bool
	// rate names the operations of the per-second figure ("calls/s"),
	// whose median is then shown too; "" for deliveries/s.
	rate string
}

func cpuPerMessage(scale float64) func(r run) float64 {
	return func(r run) float64 { return r.cpu.Seconds() * scale / float64(r.report.Messages) }
}

// broadcastArgs is wsload's load for a broadcast of msgs messages of
// 128 B to members, window in flight.
func broadcastArgs(members, msgs, size, window int) []string {
	return []string{"-mode", "broadcast", "-conns", strconv.Itoa(members), "-messages", strconv.Itoa(msgs),
		"-size", strconv.Itoa(size), "-window", strconv.Itoa(window), "-dial-parallel", "64", "-protocols", "echo", "-timeout", "5m"}
}

func sustained(members, msgs, window int) scenario {
	return scenario{
		name:  fmt.Sprintf("sustained-%dk-w%d", members/1000, window),
		impls: []string{"wsmap", "melody", "gws"}, refs: []string{"melody", "gws"}, path: "/room",
		args:   broadcastArgs(members, msgs, 128, window),
		metric: cpuPerMessage(1e9), unit: "server CPU ns per delivery", latency: true,
		desc: fmt.Sprintf("%d members of one room, %d broadcasts of 128 B, %d in flight; wsmap's room.Room (default options) against melody and gws", members, msgs, window),
	}
}

var scenarios = []scenario{
	{
		name: "echo128", impls: []string{"wsmap", "gorilla", "gws", "tcp"}, refs: []string{"gorilla", "gws"}, path: "/echo",
		args:   []string{"-conns", "64", "-messages", "3000", "-size", "128", "-window", "1", "-protocols", "echo"},
		metric: cpuPerMessage(1e6), unit: "server CPU µs per round trip",
		desc: "echo, 64 connections × 3,000 round trips of 128 B, subprotocol echo",
	},
	{
		name: "echo128-otel", impls: []string{"wsmap", "wsmap-otel-1.0", "wsmap-otel-0.01"}, refs: []string{"wsmap"}, path: "/echo",
		args:   []string{"-conns", "64", "-messages", "3000", "-size", "128", "-window", "1", "-protocols", "echo"},
		metric: cpuPerMessage(1e6), unit: "server CPU µs per round trip",
		desc: "echo128's load on wsmap without and with middleware/otelwsmap (a real SDK, spans sampled at 1.0 and 0.01 and batched, metrics collected every second, exporters that discard)",
	},
	{
		name: "echo64k", impls: []string{"wsmap", "wsmap-into", "gorilla", "gws", "tcp"}, refs: []string{"gorilla", "gws"}, path: "/echo",
		args:   []string{"-conns", "16", "-messages", "500", "-size", "65536", "-window", "1", "-protocols", "echo"},
		metric: cpuPerMessage(1e6), unit: "server CPU µs per round trip",
		desc: "echo, 16 connections × 500 round trips of 64 KiB binary",
	},
	{
		name: "idle", impls: []string{"wsmap", "wsmap-deflate", "gorilla", "gws", "tcp"}, refs: []string{"gorilla", "wsmap"}, path: "/echo",
		args:     []string{"-mode", "idle", "-conns", "19000", "-idle", "4s", "-alive", "-hold", "-timeout", "1m", "-dial-parallel", "64", "-sources", "4", "-protocols", "echo"},
		implArgs: map[string][]string{"wsmap-deflate": {"-compress"}},
		metric:   func(r run) float64 { return float64(r.rssIdle-r.rssBefore) / float64(r.report.Connected) },
		unit:     "server KiB of resident memory per connection",
		desc:     "19,000 idle connections (wsmap with its default keepalive; wsmap-deflate with permessage-deflate negotiated on each), then one echo on each, then the server's shutdown",
	},
	{
		name: "handshake", impls: []string{"wsmap", "gorilla", "gws"}, refs: []string{"gws", "gorilla"}, path: "/echo",
		args:   []string{"-mode", "handshake", "-conns", "5000", "-dial-parallel", "16", "-protocols", "echo"},
		metric: func(r run) float64 { return r.cpu.Seconds() * 1e6 / float64(r.report.Connected) },
		unit:   "server CPU µs per connection (opening and closing handshakes)",
		desc:   "5,000 connections opened and closed, 16 at a time; wsmap's route is the last of 1,000, with subprotocol negotiation",
	},
	{
		name: "broadcast", impls: []string{"wsmap", "melody", "gws"}, refs: []string{"melody", "gws"}, path: "/room",
		args:   []string{"-mode", "broadcast", "-conns", "1000", "-messages", "300", "-size", "64", "-window", "1", "-dial-parallel", "64", "-protocols", "echo"},
		metric: cpuPerMessage(1e9), unit: "server CPU ns per delivery", latency: true,
		desc: "1,000 members of one room, 300 broadcasts of 64 B, one at a time; wsmap's room.Room against melody and gws",
	},
	sustained(1000, 2000, 16),
	sustained(1000, 2000, 64),
	sustained(10000, 200, 16),
	sustained(10000, 200, 64),
	{
		name: "rpc", impls: []string{"wsmap", "jsonrpc2", "jsonrpc2-inline"}, refs: []string{"jsonrpc2", "jsonrpc2-inline"}, path: "/rpc",
		args:   []string{"-mode", "rpc", "-conns", "16", "-window", "64", "-messages", "10000", "-method", "add", "-protocols", "jsonrpc", "-timeout", "5m"},
		metric: cpuPerMessage(1e6), unit: "server CPU µs per call", latency: true, rate: "calls/s",
		desc: "JSON-RPC 2.0 calls of \"add\", 16 connections × 10,000 calls, 64 in flight on each; wsmap's message.Peer (jsonrpc.Codec, a message.Router, the default options) behind the mux, against sourcegraph/jsonrpc2 over gorilla/websocket, its calls handled on goroutines of their own (jsonrpc2) or one after another (jsonrpc2-inline)",
	},
	{
		name: "stalled", impls: []string{"wsmap", "wsmap-stalled"}, refs: []string{"wsmap"}, path: "/room",
		// 2 KiB messages: 4 MB for each stalled member, more than its
		// socket buffers and queue hold, so that the room drops them.
		args:     broadcastArgs(1000, 2000, 2048, 16),
		implArgs: map[string][]string{"wsmap-stalled": {"-stalled", "10"}},
		metric:   func(r run) float64 { return float64(r.report.Latency.P99) }, unit: "µs, p99 of the delivery latency to the members that read", latency: true,
		desc: "1,000 members of one room, 2,000 broadcasts of 2 KiB, 16 in flight; wsmap-stalled has 10 more members (1%) that stop reading once they have joined, and that the room drops as too slow",
	},
}

// report is the part of wsload's JSON output used here.
type report struct {
	Phase      string  `json:"phase"`
	Connected  int64   `json:"connected"`
	Messages   int64   `json:"messages"`
	PerSecond  float64 `json:"messages_per_second"`
	Handshakes float64 `json:"handshakes_per_second"`
	Latency    struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
	} `json:"latency_us"`
	CloseCodes map[string]int `json:"close_codes"`
}

// run is one measurement of one server.
type run struct {
	cpu       time.Duration
	rssBefore int64 // KiB
	rssIdle   int64 // KiB, with the idle connections open
	report    report
	alive     int64          // idle: connections that echoed after the idle time
	closed    map[string]int // idle: how the server's shutdown closed them
}

func main() {
	rounds := flag.Int("rounds", 5, "rounds per scenario")
	var all []string
	for _, sc := range scenarios {
		all = append(all, sc.name)
	}
	names := flag.String("scenarios", strings.Join(all, ","), "scenarios to run")
	profiles := flag.String("profile", "", "directory to write each server's CPU profile into")
	flag.Parse()
	dir, err := os.MkdirTemp("", "wsmap-compare")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bins, err := build(dir)
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range strings.Split(*names, ",") {
		i := slices.IndexFunc(scenarios, func(s scenario) bool { return s.name == name })
		if i < 0 {
			log.Fatalf("unknown scenario %q", name)
		}
		sc := scenarios[i]
		results := map[string][]run{}
		for round := range *rounds {
			for k := range sc.impls {
				impl := sc.impls[(k+round)%len(sc.impls)]
				prof := ""
				if *profiles != "" {
					prof = filepath.Join(*profiles, fmt.Sprintf("%s-%s-%d.pprof", sc.name, impl, round+1))
				}
				r, err := measure(bins, sc, impl, prof)
				if err != nil {
					log.Fatalf("%s, %s, round %d: %v", sc.name, impl, round+1, err)
				}
				results[impl] = append(results[impl], r)
				fmt.Fprintf(os.Stderr, "%s round %d %s: %.2f %s\n", sc.name, round+1, impl, sc.metric(r), sc.unit)
			}
		}
		printTable(sc, results)
	}
}

// build builds the servers and the load client into dir and returns
// their paths by name.
func build(dir string) (map[string]string, error) {
	bins := map[string]string{}
	for name, pkg := range map[string]string{
		"wsmapserver": "github.com/wsmap/wsmap/internal/perf/wsmapserver",
		"refserver":   "github.com/wsmap/wsmap/internal/perf/refserver",
		"wsload":      "github.com/wsmap/wsmap/examples/wsload",
	} {
		bins[name] = filepath.Join(dir, name)
		if out, err := exec.Command("go", "build", "-o", bins[name], pkg).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building %s: %v\n%s", pkg, err, out)
		}
	}
	return bins, nil
}

// measure starts the server impl, puts the scenario's load on it and
// returns what it cost. If prof is not "", the server writes a CPU
// profile of its run there.
func measure(bins map[string]string, sc scenario, impl, prof string) (run, error) {
	var cmd *exec.Cmd
	switch impl {
	case "wsmap":
		cmd = exec.Command(bins["wsmapserver"], "-routes", "1000")
	case "wsmap-into":
		cmd = exec.Command(bins["wsmapserver"], "-routes", "1000", "-into")
	case "wsmap-deflate":
		cmd = exec.Command(bins["wsmapserver"], "-routes", "1000", "-compress")
	case "wsmap-stalled":
		cmd = exec.Command(bins["wsmapserver"], "-routes", "1000")
	case "wsmap-otel-1.0", "wsmap-otel-0.01":
		cmd = exec.Command(bins["wsmapserver"], "-routes", "1000", "-otel", strings.TrimPrefix(impl, "wsmap-otel-"))
	default:
		cmd = exec.Command(bins["refserver"], "-impl", impl)
	}
	if prof != "" {
		cmd.Args = append(cmd.Args, "-cpuprofile", prof)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return run{}, err
	}
	if err := cmd.Start(); err != nil {
		return run{}, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		return run{}, fmt.Errorf("server said %q: %v", line, err)
	}
	pid := cmd.Process.Pid
	var r run
	cpu0, err := cpuTime(pid)
	if err != nil {
		return r, err
	}
	if r.rssBefore, err = rss(pid); err != nil {
		return r, err
	}
	args := append(slices.Clone(sc.args), sc.implArgs[impl]...)
	load := exec.Command(bins["wsload"], append(args, "ws://"+addr+sc.path)...)
	load.Stderr = os.Stderr
	lout, err := load.StdoutPipe()
	if err != nil {
		return r, err
	}
	if err := load.Start(); err != nil {
		return r, err
	}
	lines := bufio.NewScanner(lout)
	first := true
	for lines.Scan() {
		var rep report
		if err := json.Unmarshal(lines.Bytes(), &rep); err != nil {
			return r, fmt.Errorf("wsload: %v: %s", err, lines.Bytes())
		}
		if first {
			r.report = rep
			first = false
		}
		switch rep.Phase {
		case "idle":
			time.Sleep(time.Second) // let the handshakes' garbage go
			if r.rssIdle, err = rss(pid); err != nil {
				return r, err
			}
		case "alive":
			r.alive = rep.Messages
			// Shut the server down: wsload reports how each connection
			// was closed.
			if cpu1, err := cpuTime(pid); err == nil {
				r.cpu = cpu1 - cpu0
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
		case "closed":
			r.closed = rep.CloseCodes
		}
	}
	if err := load.Wait(); err != nil && r.closed == nil {
		// (A reference server that drops its connections at shutdown
		// makes wsload report failed connections; that is expected.)
		return r, fmt.Errorf("wsload: %w", err)
	}
	if r.closed != nil {
		return r, nil
	}
	cpu1, err := cpuTime(pid)
	if err != nil {
		return r, err
	}
	r.cpu = cpu1 - cpu0
	return r, nil
}

// cpuTime returns the user and system CPU time process pid has used, from
// /proc/PID/stat.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks, nil
}

// rss returns process pid's resident memory in KiB, from /proc/PID/status.
func rss(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseRSS(f)
}

func parseRSS(r io.Reader) (int64, error) {
	s := bufio.NewScanner(r)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// printTable prints one scenario's results: per server the median figure
// and the median and range of its round-by-round ratio to each
// reference; for broadcasts the same for deliveries per second and the
// latencies' p50 and p99; for idle connections, how many were alive
// after the idle time and how the shutdown closed them.
func printTable(sc scenario, results map[string][]run) {
	rounds := len(results[sc.refs[0]])
	fmt.Printf("\n### %s: %s\n\n%s; median of %d rounds, ratios round by round: median (range).\n\n", sc.name, sc.desc, sc.unit, rounds)
	head := "| server | median |"
	line := "|---|---|"
	rate := "deliveries/s"
	if sc.rate != "" {
		rate = sc.rate
		head += " " + rate + " |"
		line += "---|"
	}
	for _, ref := range sc.refs {
		head += " vs " + ref + " |"
		line += "---|"
		if sc.latency {
			head += " " + rate + " vs " + ref + " | p50 vs " + ref + " | p99 vs " + ref + " |"
			line += "---|---|---|"
		} else if sc.name != "idle" {
			head += " throughput vs " + ref + " |"
			line += "---|"
		}
	}
	if sc.name == "idle" {
		head += " alive | closed by shutdown |"
		line += "---|---|"
	}
	fmt.Println(head)
	fmt.Println(line)
	for _, impl := range sc.impls {
		var figs []float64
		for _, r := range results[impl] {
			figs = append(figs, sc.metric(r))
		}
		row := fmt.Sprintf("| %s | %.2f |", impl, median(figs))
		if sc.rate != "" {
			var rates []float64
			for _, r := range results[impl] {
				rates = append(rates, r.report.PerSecond)
			}
			row += fmt.Sprintf(" %.0f |", median(rates))
		}
		for _, ref := range sc.refs {
			row += " " + ratio(results[impl], results[ref], sc.metric) + " |"
			if sc.latency {
				row += " " + ratio(results[impl], results[ref], func(r run) float64 { return r.report.PerSecond }) + " |"
				row += " " + ratio(results[impl], results[ref], func(r run) float64 { return r.report.Latency.P50 }) + " |"
				row += " " + ratio(results[impl], results[ref], func(r run) float64 { return r.report.Latency.P99 }) + " |"
			} else if sc.name != "idle" {
				row += " " + ratio(results[impl], results[ref], func(r run) float64 { return r.report.PerSecond + r.report.Handshakes }) + " |"
			}
		}
		if sc.name == "idle" {
			var alive []string
			closed := map[string]int{}
			for _, r := range results[impl] {
				alive = append(alive, fmt.Sprintf("%d/%d", r.alive, r.report.Connected))
				for code, n := range r.closed {
					closed[code] += n
				}
			}
			row += fmt.Sprintf(" %s | %v |", strings.Join(alive, ", "), closed)
		}
		fmt.Println(row)
	}
}

// ratio gives the median and range of the round-by-round ratios of fig
// between runs and refs.
func ratio(runs, refs []run, fig func(run) float64) string {
	var rs []float64
	for i := range min(len(runs), len(refs)) {
		if d := fig(refs[i]); d != 0 {
			rs = append(rs, fig(runs[i])/d)
		}
	}
	if len(rs) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f× (%.2f–%.2f)", median(rs), slices.Min(rs), slices.Max(rs))
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
