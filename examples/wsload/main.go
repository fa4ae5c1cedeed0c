// Command wsload puts load on a WebSocket server with wsmap's client API
// and reports what it measured as JSON.
//
// Usage:
//
//	wsload [flags] URL
//
// Mode echo (the default) opens -conns connections (-dial-parallel at a
// time, from -sources loopback source addresses when one address would
// run out of ports), then each sends -messages messages of -size bytes,
// keeping up to -window of them in flight (and, with -inflight, no more
// than that many across all connections), and checks that the server
// echoes every one back byte for byte and in order. Each payload carries
// its connection number and sequence number, so a lost, reordered or
// corrupted echo is counted as such.
//
// After the exchange wsload prints one JSON line, the report of the
// exchange phase (connections made, messages verified, losses, latency
// percentiles in microseconds, throughput). Without -hold it then closes
// every connection with 1000 and exits. With -hold it keeps the
// connections open until the server closes them (or -timeout passes),
// then prints a second line with the close codes it saw: a way to check a
// server's shutdown.
//
// Mode idle opens -conns connections, reports (phase "idle", with the
// handshakes' latencies), holds them open without a message for -idle,
// and reports again (phase "hold"; every connection should be "open at
// timeout"). Meanwhile the server's memory per connection can be read.
// With -alive each connection then sends one message and checks its echo
// (phase "alive"). With -hold wsload then waits for the server to close
// the connections (a shutdown) and reports their close codes (phase
// "closed"); without it, it closes them with 1001.
//
// Mode handshake opens -conns connections, -dial-parallel at a time, and
// closes each with 1000 as soon as it is open; it reports the opening
// handshakes' latencies and handshakes per second (phase "handshake").
//
// Mode broadcast is for a server that relays every message a client sends
// to every connected client, the sender included, after sending each
// client the text message "joined" once it is a member (as a chat room
// does). wsload opens -conns connections and waits for each one's
// "joined"; then the first connection sends -messages messages of -size
// bytes, up to -window of them in flight (a message is in flight until
// every connection has received it), and every connection checks that it
// receives each one whole and in order. It reports deliveries (messages
// received, summed over the connections), their latencies from the send,
// and deliveries per second (phase "broadcast"). With -stalled, that many
// more connections join, then read nothing, with a receive buffer of
// 4 KiB, until the exchange is over: members that have stopped reading,
// which the server should drop without slowing the others. Their
// deliveries are not counted, and at the end their sockets are closed
// (no closing handshake gets through a full buffer).
//
// Mode rpc is for a JSON-RPC 2.0 server (offer its subprotocol with
// -protocols). wsload opens -conns connections, then each makes
// -messages calls of -method, keeping -window of them in flight: "add",
// whose parameters are two integers and whose result is their sum, or
// "echo", whose parameters are an array of one string of -size bytes and
// whose result is the same array. Every answer is checked: its id must be
// that of a call in flight on its connection (answers may come in any
// order) and its result the one expected. It reports the calls answered
// correctly as messages, their round-trip latencies, and calls per second
// (phase "rpc").
//
// It exits with status 1 if any connection failed or any message was
// lost, reordered or corrupted.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// config is what the flags say.
type config struct {
	url          string
	mode         string
	method       string
	conns        int
	messages     int
	size         int
	window       int
	inflight     int
	protocols    []string
	dialParallel int
	sources      int
	hold         bool
	alive        bool
	compress     bool
	stalled      int
	// stalledSockets, if not nil, has a place for each connection's
	// socket, which is given a 4 KiB receive buffer (stalled members).
	stalledSockets []*net.TCPConn
	idle           time.Duration
	timeout        time.Duration
	pongTimeout    time.Duration // the connections' keepalive bound; 0: the default
}

func main() {
	var cfg config
	var protocols string
	flag.StringVar(&cfg.mode, "mode", "echo", "load to put: echo, idle, handshake, broadcast or rpc")
	flag.StringVar(&cfg.method, "method", "add", "with -mode rpc, the method to call: add or echo")
	flag.DurationVar(&cfg.idle, "idle", 10*time.Second, "with -mode idle, how long to hold the connections")
	flag.IntVar(&cfg.conns, "conns", 100, "connections")
	flag.IntVar(&cfg.messages, "messages", 100, "messages each connection sends")
	flag.IntVar(&cfg.size, "size", 128, "message size in bytes (at least 16)")
	flag.IntVar(&cfg.window, "window", 1, "messages each connection keeps in flight")
	flag.IntVar(&cfg.inflight, "inflight", 0, "messages in flight across all connections (0: no bound but -window)")
	flag.StringVar(&protocols, "protocols", "", "comma-separated subprotocols to offer")
	flag.IntVar(&cfg.dialParallel, "dial-parallel", 64, "handshakes under way at once")
	flag.IntVar(&cfg.sources, "sources", 1, "loopback source addresses to spread connections over (127.0.0.1 and up)")
	flag.BoolVar(&cfg.hold, "hold", false, "after the exchange, wait for the server to close the connections and report their close codes")
	flag.BoolVar(&cfg.alive, "alive", false, "with -mode idle, check every connection with one echo after -idle")
	flag.BoolVar(&cfg.compress, "compress", false, "offer permessage-deflate")
	flag.IntVar(&cfg.stalled, "stalled", 0, "with -mode broadcast, members that stop reading once they have joined")
	flag.DurationVar(&cfg.timeout, "timeout", 2*time.Minute, "bound on each phase")
	flag.DurationVar(&cfg.pongTimeout, "pong-timeout", 0, "how long a connection waits for the pong of its keepalive ping before it gives up (0: the library's 10s)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: wsload [flags] URL\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	cfg.url = flag.Arg(0)
	if protocols != "" {
		cfg.protocols = strings.Split(protocols, ",")
	}
	if err := cfg.check(); err != nil {
		fmt.Fprintln(os.Stderr, "wsload:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, cfg, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsload:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

func (cfg config) check() error {
	switch {
	case cfg.mode != "echo" && cfg.mode != "idle" && cfg.mode != "handshake" && cfg.mode != "broadcast" && cfg.mode != "rpc":
		return fmt.Errorf("unknown -mode %q (want echo, idle, handshake, broadcast or rpc)", cfg.mode)
	case cfg.method != "add" && cfg.method != "echo":
		return fmt.Errorf("unknown -method %q (want add or echo)", cfg.method)
	case cfg.idle <= 0:
		return errors.New("-idle must be positive")
	case cfg.conns < 1:
		return errors.New("-conns must be at least 1")
	case cfg.messages < 0:
		return errors.New("-messages must not be negative")
	case cfg.size < 16:
		return errors.New("-size must be at least 16 (connection and sequence numbers)")
	case cfg.window < 1:
		return errors.New("-window must be at least 1")
	case cfg.inflight < 0:
		return errors.New("-inflight must not be negative")
	case cfg.stalled < 0:
		return errors.New("-stalled must not be negative")
	case cfg.dialParallel < 1:
		return errors.New("-dial-parallel must be at least 1")
	case cfg.sources < 1 || cfg.sources > 1<<24-2:
		return errors.New("-sources must be between 1 and 16777214")
	}
	return nil
}

// Report is one JSON line of output.
type Report struct {
	Phase      string         `json:"phase"` // "exchange", "hold", "idle", "alive", "closed", "handshake", "broadcast" or "rpc"
	Mode       string         `json:"mode"`
	Conns      int            `json:"conns"`
	Connected  int64          `json:"connected"`
	DialErrors int64          `json:"dial_errors"`
	Messages   int64          `json:"messages"` // echoes verified
	Lost       int64          `json:"lost"`
	Reordered  int64          `json:"reordered"`
	Corrupted  int64          `json:"corrupted"`
	ConnErrors int64          `json:"conn_errors"` // connections that failed mid-exchange
	Errors     map[string]int `json:"errors,omitempty"`
	LatencyUS  *Percentiles   `json:"latency_us,omitempty"`
	Seconds    float64        `json:"seconds"`
	PerSecond  float64        `json:"messages_per_second,omitempty"`
	Handshakes float64        `json:"handshakes_per_second,omitempty"`
	CloseCodes map[string]int `json:"close_codes,omitempty"`
}

// Percentiles of round-trip times, in microseconds.
type Percentiles struct {
	P50 int64 `json:"p50"`
	P90 int64 `json:"p90"`
	P99 int64 `json:"p99"`
	Max int64 `json:"max"`
}

// clean reports whether nothing went wrong.
func (r *Report) clean() bool {
	return r.DialErrors == 0 && r.Lost == 0 && r.Reordered == 0 && r.Corrupted == 0 && r.ConnErrors == 0
}

// tally gathers results from many connections.
type tally struct {
	connected, dialErrors, messages, lost, reordered, corrupted, connErrors atomic.Int64

	mu     sync.Mutex
	errs   map[string]int
	rtts   []time.Duration
	closes map[string]int
}

func (t *tally) err(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.errs == nil {
		t.errs = map[string]int{}
	}
	msg := err.Error()
	if _, ok := t.errs[msg]; ok || len(t.errs) < 20 {
		t.errs[msg]++
	} else {
		t.errs["(other errors)"]++
	}
}

func (t *tally) addRTTs(d []time.Duration) {
	t.mu.Lock()
	t.rtts = append(t.rtts, d...)
	t.mu.Unlock()
}

func (t *tally) closed(code string) {
	t.mu.Lock()
	if t.closes == nil {
		t.closes = map[string]int{}
	}
	t.closes[code]++
	t.mu.Unlock()
}

func (t *tally) report(phase string, cfg config, elapsed time.Duration) *Report {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := &Report{
		Phase: phase, Mode: cfg.mode, Conns: cfg.conns,
		Connected: t.connected.Load(), DialErrors: t.dialErrors.Load(),
		Messages: t.messages.Load(), Lost: t.lost.Load(), Reordered: t.reordered.Load(),
		Corrupted: t.corrupted.Load(), ConnErrors: t.connErrors.Load(),
		Errors: t.errs, Seconds: elapsed.Seconds(), CloseCodes: t.closes,
	}
	if phase == "exchange" && elapsed > 0 {
		r.PerSecond = float64(r.Messages) / elapsed.Seconds()
	}
	if len(t.rtts) > 0 {
		slices.Sort(t.rtts)
		at := func(q float64) int64 { return t.rtts[int(q*float64(len(t.rtts)-1))].Microseconds() }
		r.LatencyUS = &Percentiles{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: t.rtts[len(t.rtts)-1].Microseconds()}
	}
	return r
}

// run puts the load on and writes the reports to out. It reports whether
// everything went well.
func run(ctx context.Context, cfg config, out io.Writer) (bool, error) {
	switch cfg.mode {
	case "handshake":
		return runHandshakes(ctx, cfg, out)
	case "idle":
		return runIdle(ctx, cfg, out)
	case "broadcast":
		return runBroadcast(ctx, cfg, out)
	case "rpc":
		return runRPC(ctx, cfg, out)
	}
	var t tally
	enc := json.NewEncoder(out)

	// Connect.
	start := time.Now()
	conns, _ := dialAll(ctx, cfg, &t)

	// Exchange.
	phaseCtx, cancel := context.WithTimeout(ctx, cfg.timeout)
	var slots chan struct{} // messages in flight across all connections
	if cfg.inflight > 0 {
		slots = make(chan struct{}, cfg.inflight)
	}
	var wg sync.WaitGroup
	for i, c := range conns {
		if c == nil {
			continue
		}
		wg.Go(func() {
			if err := echo(phaseCtx, cfg, uint64(i), c, slots, &t); err != nil {
				t.connErrors.Add(1)
				t.err(err)
			}
		})
	}
	wg.Wait()
	cancel()
	rep := t.report("exchange", cfg, time.Since(start))
	if err := enc.Encode(rep); err != nil {
		return false, err
	}
	ok := rep.clean()
	if !cfg.hold {
		closeAll(conns, protocol.CloseNormal)
		return ok, nil
	}
	return ok, enc.Encode(hold(ctx, cfg, conns, cfg.timeout, true, &t))
}

// closeAll closes every connection with code.
func closeAll(conns []*service.Conn, code protocol.CloseCode) {
	var wg sync.WaitGroup
	for _, c := range conns {
		if c != nil {
			wg.Go(func() { _ = c.Close(code, "") })
		}
	}
	wg.Wait()
}

// hold keeps the connections open until the server closes them or d
// passes, when they are closed with 1001 if closeAtEnd, and returns the
// report of the close codes seen ("open at timeout" for those still
// open).
func hold(ctx context.Context, cfg config, conns []*service.Conn, d time.Duration, closeAtEnd bool, t *tally) *Report {
	holdStart := time.Now()
	holdCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range conns {
		if c == nil {
			continue
		}
		wg.Go(func() {
			_, _, err := c.Recv(holdCtx)
			code, _ := service.CloseStatus(err)
			if holdCtx.Err() != nil && code == 0 {
				t.closed("open at timeout")
				if closeAtEnd {
					_ = c.Close(protocol.CloseGoingAway, "")
				}
				return
			}
			if err == nil {
				t.closed("unexpected message")
				_ = c.Close(protocol.ClosePolicyViolation, "unexpected message")
				return
			}
			t.closed(strconv.Itoa(int(code)))
		})
	}
	wg.Wait()
	return t.report("hold", cfg, time.Since(holdStart))
}

// dialAll opens the connections, cfg.dialParallel at a time; a failed
// dial leaves nil in its place. It returns the opening handshakes'
// latencies beside them.
func dialAll(ctx context.Context, cfg config, t *tally) ([]*service.Conn, []time.Duration) {
	conns := make([]*service.Conn, cfg.conns)
	lat := make([]time.Duration, cfg.conns)
	sem := make(chan struct{}, cfg.dialParallel)
	var wg sync.WaitGroup
	for i := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			start := time.Now()
			c, err := dialOne(ctx, cfg, i)
			if err != nil {
				t.dialErrors.Add(1)
				t.err(err)
				return
			}
			lat[i] = time.Since(start)
			conns[i] = c
			t.connected.Add(1)
		})
	}
	wg.Wait()
	return conns, lat
}

// dialOne opens the i-th connection, from the source address its number
// gives it when -sources is more than 1.
func dialOne(ctx context.Context, cfg config, i int) (*service.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	opts := &service.DialOptions{Subprotocols: cfg.protocols,
		Options: &service.Options{Compression: cfg.compress, PongTimeout: cfg.pongTimeout}}
	d := &net.Dialer{}
	if cfg.sources > 1 {
		d.LocalAddr = &net.TCPAddr{IP: sourceAddr(i % cfg.sources).AsSlice()}
	}
	opts.NetDialContext = d.DialContext
	if cfg.stalledSockets != nil {
		opts.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := d.DialContext(ctx, network, addr)
			if tc, ok := nc.(*net.TCPConn); ok {
				if err := tc.SetReadBuffer(4096); err != nil {
					nc.Close()
					return nil, err
				}
				cfg.stalledSockets[i] = tc
			}
			return nc, err
		}
	}
	c, _, err := service.Dial(ctx, cfg.url, opts)
	return c, err
}

// sourceAddr is the i-th loopback address from 127.0.0.1 on.
func sourceAddr(i int) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], 127<<24+1+uint32(i))
	return netip.AddrFrom4(b)
}

// payload fills p with the message of connection id and sequence seq.
func payload(p []byte, id, seq uint64) {
	binary.BigEndian.PutUint64(p[0:8], id)
	binary.BigEndian.PutUint64(p[8:16], seq)
	for i := 16; i < len(p); i++ {
		p[i] = byte(uint64(i) + id*31 + seq*7)
	}
}

// echo runs the exchange on one connection. Each message takes a slot
// in slots, if not nil, until its echo comes back.
func echo(ctx context.Context, cfg config, id uint64, c *service.Conn, slots chan struct{}, t *tally) (err error) {
	type sent struct {
		seq uint64
		at  time.Time
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var held atomic.Int64 // slots taken for messages not yet echoed
	inflight := make(chan sent, cfg.window)
	sendErr := make(chan error, 1)
	senderDone := false
	defer func() {
		if !senderDone {
			cancel()
			<-sendErr
		}
		for range held.Load() {
			<-slots
		}
	}()
	go func() {
		msg := make([]byte, cfg.size)
		for seq := range uint64(cfg.messages) {
			payload(msg, id, seq)
			if slots != nil {
				select {
				case slots <- struct{}{}:
					held.Add(1)
				case <-ctx.Done():
					sendErr <- ctx.Err()
					return
				}
			}
			select {
			case inflight <- sent{seq, time.Now()}:
			case <-ctx.Done():
				sendErr <- ctx.Err()
				return
			}
			if err := c.Send(ctx, protocol.Binary, msg); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()
	release := func() {
		if slots != nil {
			held.Add(-1)
			<-slots
		}
	}
	want := make([]byte, cfg.size)
	rtts := make([]time.Duration, 0, cfg.messages)
	defer func() { t.addRTTs(rtts) }()
	next := uint64(0)
	for next < uint64(cfg.messages) {
		_, data, err := c.Recv(ctx)
		if err != nil {
			t.lost.Add(int64(uint64(cfg.messages) - next))
			return fmt.Errorf("after %d echoes: %w", next, err)
		}
		var s sent
		select {
		case s = <-inflight:
		default: // more messages than were sent
			t.corrupted.Add(1)
			continue
		}
		rtts = append(rtts, time.Since(s.at))
		release()
		if len(data) != cfg.size {
			t.corrupted.Add(1)
			next++
			continue
		}
		gotID, seq := binary.BigEndian.Uint64(data[0:8]), binary.BigEndian.Uint64(data[8:16])
		switch {
		case gotID != id || seq >= uint64(cfg.messages):
			t.corrupted.Add(1)
			next++
			continue
		case seq < next:
			t.reordered.Add(1)
			continue
		case seq > next:
			// The ones in between never came.
			t.lost.Add(int64(seq - next))
		}
		payload(want, id, seq)
		if string(data) != string(want) {
			t.corrupted.Add(1)
		} else {
			t.messages.Add(1)
		}
		next = seq + 1
	}
	senderDone = true
	return <-sendErr
}
