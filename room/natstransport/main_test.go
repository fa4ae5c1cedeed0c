package natstransport_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/wsmap/wsmap/internal/natstest"
	"github.com/wsmap/wsmap/internal/servetest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/room/internal/roomtest"
	"github.com/wsmap/wsmap/room/natstransport"
	"github.com/wsmap/wsmap/service"
)

// A test may run this binary again as a wsmap server of its own (see
// startChild): these variables say so.
const (
	childNATSEnv = "WSMAP_NATS_CHILD_URL"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(childHistoryAddrEnv); addr != "" {
		os.Exit(runHistoryChild(os.Getenv(childNATSEnv), addr, os.Getenv(childNameEnv)))
	}
	if url := os.Getenv(childNATSEnv); url != "" {
		os.Exit(runChild(url))
	}
	goleak.VerifyTestMain(m)
}

// Heartbeat settings of the tests' processes: a silent process is
// forgotten within about half a second.
var testOpts = natstransport.Options{HeartbeatInterval: 50 * time.Millisecond, PeerTimeout: 300 * time.Millisecond}

// startNATS starts a NATS server on port (-1: any free one), shut down
// at the end of the test.
func startNATS(t testing.TB, port int) *natstest.Server { return natstest.Start(t, port) }

// node is one wsmap server of a test: a hub whose rooms a Transport
// carries, serving members over WebSocket.
type node struct {
	hub  *room.Hub
	tr   *natstransport.Transport
	base string // ws://host:port
	// published counts the messages the hub's rooms have given tr to
	// publish, once Publish has returned, whether it took them or not.
	published atomic.Int64
}

// countingTransport is the Transport a node's hub uses: tr, counting
// the messages published in count.
type countingTransport struct {
	*natstransport.Transport
	count *atomic.Int64
}

func (c countingTransport) Publish(ctx context.Context, name string, e room.Event) error {
	err := c.Transport.Publish(ctx, name, e)
	if e.Kind == room.Message {
		c.count.Add(1)
	}
	return err
}

// startNode starts a wsmap server whose rooms are carried over the NATS
// server at url, stopped at the end of the test. natsOpts are added to
// the connection's.
func startNode(t testing.TB, url string, natsOpts ...nats.Option) *node {
	t.Helper()
	return startNodeWith(t, url, testOpts, natsOpts...)
}

// startNodeWith is startNode with the given transport options.
func startNodeWith(t testing.TB, url string, opts natstransport.Options, natsOpts ...nats.Option) *node {
	t.Helper()
	natsOpts = append([]nats.Option{nats.ReconnectWait(20 * time.Millisecond)}, natsOpts...)
	opts.OnError = func(err error) { t.Logf("transport: %v", err) }
	tr, err := natstransport.Connect(url, &opts, natsOpts...)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{tr: tr}
	n.hub = roomtest.NewHub(t, &room.Options{Transport: countingTransport{tr, &n.published}, QueueSize: 1024})
	n.base = serve(t, roomtest.Member(n.hub, true))
	// Cleanups run last first: the server's shutdown (registered by
	// serve) comes before the transport's close.
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("transport close: %v", err)
		}
	})
	return n
}

// members returns the nicknames in the node's room, sorted, or nil if
// it has no such room.
func (n *node) members(name string) []string {
	r := n.hub.Room(name)
	if r == nil {
		return nil
	}
	return nicks(r.Members())
}

func nicks(infos []room.MemberInfo) []string {
	out := []string{}
	for _, m := range infos {
		out = append(out, m.Meta["nick"])
	}
	slices.Sort(out)
	return out
}

// serve starts h on loopback for the test; see servetest.Serve.
func serve(t testing.TB, h http.Handler) string { return servetest.Serve(t, h) }

// dial connects to url for the test; see servetest.Dial.
func dial(t testing.TB, url string) *service.Conn { return servetest.Dial(t, url, nil) }

// recvText reads one text message within d.
func recvText(t testing.TB, c *service.Conn, d time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	typ, data, err := c.Recv(ctx)
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	if typ != protocol.Text {
		t.Fatalf("Recv: %v message %q", typ, data)
	}
	return string(data)
}

// quiet checks that nothing more arrives on c for d: no message came
// twice.
func quiet(t testing.TB, c *service.Conn, d time.Duration, who string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.Context(), d)
	defer cancel()
	if _, data, err := c.Recv(ctx); err == nil {
		t.Errorf("%s got %q, want nothing more", who, data)
	}
}

// child is a wsmap server in a process of its own (this test binary run
// again), which a test can kill.
type child struct {
	cmd  *exec.Cmd
	base string
}

// startChild starts a wsmap server in another process, its rooms carried
// over the NATS server at url with testOpts. It is killed at the end of
// the test if it still runs.
func startChild(t *testing.T, url string) *child {
	t.Helper()
	cmd, addr := startChildProcess(t, childNATSEnv+"="+url)
	return &child{cmd: cmd, base: "ws://" + addr}
}

// startChildProcess runs this test binary again with env added to its
// environment, which makes it a server of the test's (see TestMain), and
// waits for its "listening on HOST:PORT" line: it returns the process
// and the address. The process is killed at the end of the test if it
// still runs.
func startChildProcess(t *testing.T, env ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			first <- sc.Text()
		}
		close(first)
		for sc.Scan() { // whatever else it prints
		}
	}()
	select {
	case line := <-first:
		addr, ok := strings.CutPrefix(line, "listening on ")
		if !ok {
			t.Fatalf("child said %q", line)
		}
		return cmd, addr
	case <-time.After(20 * time.Second):
		t.Fatal("child server did not start")
	}
	return nil, ""
}

// runChild is the child process: a wsmap server serving member over a
// hub carried by NATS, until it is killed or told to stop.
func runChild(url string) int {
	tr, err := natstransport.Connect(url, &testOpts, nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	hub, err := room.NewHub(&room.Options{Transport: tr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	srv := &service.Server{Handler: roomtest.Member(hub, true)}
	fmt.Printf("listening on %s\n", l.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := srv.ServeUntil(ctx, l, 5*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	if err := tr.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}
