package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/service"
)

// serverConfig is what the server process is asked to measure.
type serverConfig struct {
	client      clientConfig // the load, url left empty
	profile     bool         // record every allocation (MemProfileRate 1)
	hold        time.Duration
	ping        time.Duration // Options.PingInterval; 0 for the default
	memprofile  string        // write the heap profile here, for go tool pprof
	clientStart time.Duration // how long the client may take to connect
}

// measurement is what the server process reports: the growth of its
// figures from before the connections to while they are held, in
// bytes, and, with profile, the live heap's growth by allocation site.
type measurement struct {
	Conns      int
	Goroutines int
	// The heap after two collections (runtime.MemStats): live objects,
	// and the spans holding them, with their free slots.
	HeapAlloc int64
	HeapInuse int64
	// The rest is read as found, before the collections, at the moment
	// resident memory is: the heap the runtime holds (HeapInuse +
	// HeapIdle - HeapReleased: live objects, garbage not yet collected
	// and freed spans kept), goroutine stacks, and the runtime's
	// metadata: span descriptors (MSpanSys), the collector's (GCSys),
	// and the rest (OtherSys, which holds the netpoller's descriptors,
	// with BuckHashSys and MCacheSys).
	HeapHeld   int64
	StackInuse int64
	MSpanSys   int64
	GCSys      int64
	OtherSys   int64
	RSS        int64 // VmRSS of /proc/self/status
	// Allocated in all (TotalAlloc) and objects (Mallocs), garbage
	// included: what the handshakes cost the collector.
	TotalAlloc int64
	Mallocs    int64
	Sites      []site `json:",omitempty"`
}

// site is one allocation site's growth: the live bytes and objects
// allocated at the same stack, and the bytes allocated there in all,
// garbage included.
type site struct {
	Stack     []string // "function file:line", the allocation first
	Bytes     int64
	Objects   int64
	Allocated int64
}

// handler is the connection handler as a user writes it: it receives
// until the connection ends.
func handler(ctx context.Context, c *service.Conn) error {
	for {
		if _, _, err := c.Recv(ctx); err != nil {
			return err
		}
	}
}

// runServer serves a mux of one route, /conn/(?P<id>[0-9]+) with the
// subprotocol "echo", through a service.Server, has a client process
// open the connections, and measures what they hold.
func runServer(cfg serverConfig) (*measurement, error) {
	if cfg.profile {
		runtime.MemProfileRate = 1
	}
	h := service.HandlerFunc(handler)
	m, err := mux.New(mux.Route{Pattern: `/conn/(?P<id>[0-9]+)`, Protocols: []mux.Protocol{{Name: "echo", Handler: h}}})
	if err != nil {
		return nil, err
	}
	if cfg.ping != 0 {
		m.Options = &service.Options{PingInterval: cfg.ping}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &service.Server{Handler: m}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-serveErr
	}()

	cc := cfg.client
	cc.url = "ws://" + l.Addr().String() + "/conn"
	if err := warmUp(cc.url, srv); err != nil {
		return nil, err
	}
	before := sample(cfg.profile)
	stop, err := startClient(cc, cfg.clientStart)
	if err != nil {
		return nil, err
	}
	defer stop()
	// The client has them all open: the server must soon count them all,
	// and never fewer than it counted (none may close).
	most := 0
	for deadline := time.Now().Add(time.Minute); most < cc.conns; time.Sleep(10 * time.Millisecond) {
		n := srv.Len()
		if n < most {
			return nil, fmt.Errorf("%d connections served of %d, after %d: some closed", n, cc.conns, most)
		}
		most = n
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d connections served of %d", n, cc.conns)
		}
	}
	time.Sleep(cfg.hold)
	after := sample(cfg.profile)
	if srv.Len() != cc.conns {
		return nil, fmt.Errorf("%d connections left of %d while measuring", srv.Len(), cc.conns)
	}
	if cfg.memprofile != "" {
		if err := writeHeap(cfg.memprofile); err != nil {
			return nil, err
		}
	}
	return after.minus(before, cc.conns), nil
}

// warmUps is how many connections warmUp opens and closes.
const warmUps = 64

// warmUp opens warmUps connections from this process, each sending a
// message, closes them and waits until the server has let them go, so
// that what only the first connections pay (pools filled, code first
// run) is not counted against the measured ones.
func warmUp(url string, srv *service.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := clientConfig{url: url, conns: warmUps, sources: 1, messages: 1}
	var conns []*websocket.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for i := range warmUps {
		c, err := dialOne(ctx, cfg, i)
		if err != nil {
			return fmt.Errorf("warming up: %w", err)
		}
		conns = append(conns, c)
	}
	wait := func(n int) error {
		for srv.Len() != n {
			if ctx.Err() != nil {
				return fmt.Errorf("warming up: %d connections served, want %d", srv.Len(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
		return nil
	}
	if err := wait(warmUps); err != nil {
		return err
	}
	for _, c := range conns {
		_ = c.Close()
	}
	conns = nil
	if err := wait(0); err != nil {
		return err
	}
	// A connection let go may still be held a while, by a timer that has
	// yet to fire: wait until the live heap stops shrinking.
	prev := liveHeap()
	for range 20 {
		time.Sleep(500 * time.Millisecond)
		cur := liveHeap()
		if cur+4<<10 > prev {
			return nil
		}
		prev = cur
	}
	return errors.New("warming up: the live heap keeps shrinking")
}

// liveHeap returns the live heap after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// snapshot is the process's figures at one moment: as found (found,
// rss), then after two collections (ms).
type snapshot struct {
	rss        int64
	found, ms  runtime.MemStats
	goroutines int
	records    map[[32]uintptr]runtime.MemProfileRecord
}

// sample reads the resident memory and the runtime's figures, then
// collects the garbage twice and reads them again and, with profile, its
// allocation records.
func sample(profile bool) snapshot {
	var s snapshot
	runtime.ReadMemStats(&s.found)
	s.rss = residentBytes()
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&s.ms)
	s.goroutines = runtime.NumGoroutine()
	if profile {
		s.records = memRecords()
	}
	return s
}

// minus returns the growth from b to s for n connections.
func (s snapshot) minus(b snapshot, n int) *measurement {
	gc := func(f func(ms *runtime.MemStats) uint64) int64 { return int64(f(&s.ms)) - int64(f(&b.ms)) }
	found := func(f func(ms *runtime.MemStats) uint64) int64 { return int64(f(&s.found)) - int64(f(&b.found)) }
	m := &measurement{
		Conns:      n,
		Goroutines: s.goroutines - b.goroutines,
		HeapAlloc:  gc(func(ms *runtime.MemStats) uint64 { return ms.HeapAlloc }),
		HeapInuse:  gc(func(ms *runtime.MemStats) uint64 { return ms.HeapInuse }),
		HeapHeld:   found(func(ms *runtime.MemStats) uint64 { return ms.HeapInuse + ms.HeapIdle - ms.HeapReleased }),
		StackInuse: found(func(ms *runtime.MemStats) uint64 { return ms.StackInuse }),
		MSpanSys:   found(func(ms *runtime.MemStats) uint64 { return ms.MSpanSys }),
		GCSys:      found(func(ms *runtime.MemStats) uint64 { return ms.GCSys }),
		OtherSys:   found(func(ms *runtime.MemStats) uint64 { return ms.OtherSys + ms.BuckHashSys + ms.MCacheSys }),
		RSS:        s.rss - b.rss,
		TotalAlloc: gc(func(ms *runtime.MemStats) uint64 { return ms.TotalAlloc }),
		Mallocs:    gc(func(ms *runtime.MemStats) uint64 { return ms.Mallocs }),
	}
	for k, r := range s.records {
		old := b.records[k]
		bytes := r.InUseBytes() - old.InUseBytes()
		objs := r.InUseObjects() - old.InUseObjects()
		alloc := r.AllocBytes - old.AllocBytes
		if bytes == 0 && objs == 0 && alloc == 0 {
			continue
		}
		m.Sites = append(m.Sites, site{Stack: frames(r.Stack()), Bytes: bytes, Objects: objs, Allocated: alloc})
	}
	return m
}

// memRecords returns the heap profile's records, by stack.
func memRecords() map[[32]uintptr]runtime.MemProfileRecord {
	var recs []runtime.MemProfileRecord
	for {
		n, ok := runtime.MemProfile(recs, true)
		if ok {
			recs = recs[:n]
			break
		}
		recs = make([]runtime.MemProfileRecord, n+n/4+64)
	}
	out := make(map[[32]uintptr]runtime.MemProfileRecord, len(recs))
	for _, r := range recs {
		prev := out[r.Stack0]
		r.AllocBytes += prev.AllocBytes
		r.FreeBytes += prev.FreeBytes
		r.AllocObjects += prev.AllocObjects
		r.FreeObjects += prev.FreeObjects
		out[r.Stack0] = r
	}
	return out
}

// frames names the frames of a stack, the innermost first.
func frames(pcs []uintptr) []string {
	var out []string
	fs := runtime.CallersFrames(pcs)
	for {
		f, more := fs.Next()
		out = append(out, f.Function+" "+f.File+":"+strconv.Itoa(f.Line))
		if !more {
			return out
		}
	}
}

// writeHeap writes the heap profile, after a collection, to file.
func writeHeap(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// residentBytes returns the process's resident memory, 0 if unknown.
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kib << 10
		}
	}
	return 0
}

// startClient runs this program as the client process, waits until it
// reports its connections open, and returns the function that ends it.
func startClient(cc clientConfig, timeout time.Duration) (stop func(), err error) {
	cmd := exec.Command(os.Args[0], "-role", "client", "-url", cc.url,
		"-conns", strconv.Itoa(cc.conns), "-sources", strconv.Itoa(cc.sources),
		"-messages", strconv.Itoa(cc.messages), "-parallel", strconv.Itoa(cc.parallel), "-browser="+strconv.FormatBool(cc.browser))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop = func() {
		_ = in.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		s.Scan()
		line <- s.Text()
		for s.Scan() {
		}
	}()
	select {
	case l := <-line:
		if l != "connected "+strconv.Itoa(cc.conns) {
			stop()
			return nil, fmt.Errorf("client: %q", l)
		}
	case <-time.After(timeout):
		stop()
		return nil, errors.New("client: no connections within " + timeout.String())
	}
	return stop, nil
}
