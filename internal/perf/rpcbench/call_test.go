package rpcbench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sourcegraph/jsonrpc2"
	jsonrpc2ws "github.com/sourcegraph/jsonrpc2/websocket"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/message/jsonrpc"
	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/service"
)

// The client of a benchmark lives in a child process (this test binary,
// run again with these variables set), so that what the benchmark
// measures, allocations and CPU time included, is the server's alone.
const (
	addrEnv = "WSMAP_RPCBENCH_ADDR" // host:port to call
	loadEnv = "WSMAP_RPCBENCH_LOAD" // connections,window,calls
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(addrEnv); addr != "" {
		if err := runClient(addr, os.Getenv(loadEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "rpcbench client:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// servers are the servers compared, by name.
var servers = []struct {
	name string
	new  func() http.Handler
}{
	{"wsmap", wsmapServer},
	{"jsonrpc2", func() http.Handler { return jsonrpc2Server(false) }},
	{"jsonrpc2-inline", func() http.Handler { return jsonrpc2Server(true) }},
}

// BenchmarkCall measures calls of "add" (two integers, their sum) one at
// a time on one connection, and under sustained load, 64 in flight on
// each of 16 connections, for wsmap's message layer and for
// sourcegraph/jsonrpc2 (each call on a goroutine of its own, or inline:
// one after another on the connection's reading goroutine). ns/op is the
// wall time per call, calls/s its inverse, cpu-ns/call the CPU time the
// server's process spent per call, goroutines/call the goroutines it
// started per call; allocs/op are the server's alone.
func BenchmarkCall(b *testing.B) {
	for _, load := range []struct{ conns, window int }{{1, 1}, {16, 64}} {
		for _, s := range servers {
			b.Run(fmt.Sprintf("conns=%d/window=%d/%s", load.conns, load.window, s.name), func(b *testing.B) {
				benchCalls(b, s.new(), load.conns, load.window)
			})
		}
	}
}

// TestServers makes a few calls of each server with the benchmark's
// client, which checks every answer.
func TestServers(t *testing.T) {
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			addr := serve(t, s.new())
			c, err := startClient(addr, 4, 8, 500)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.run(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// wsmapServer is wsmapserver's /rpc: a message.Peer with jsonrpc.Codec
// and the default options over a message.Router, behind a mux route.
func wsmapServer() http.Handler {
	r := &message.Router{}
	r.Handle("add", message.Func(func(_ context.Context, p [2]int64) (int64, error) {
		return p[0] + p[1], nil
	}))
	rpc := service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		return message.New(c, jsonrpc.Codec{}, r, nil).Serve(ctx)
	})
	return mux.MustNew(mux.Route{Pattern: `/rpc`, Protocols: []mux.Protocol{{Name: "jsonrpc", Handler: rpc}}, NoProtocol: rpc})
}

// jsonrpc2Server is refserver -impl jsonrpc2 (or jsonrpc2-inline): a
// jsonrpc2.Conn over the jsonrpc2 websocket.ObjectStream of each gorilla
// connection.
func jsonrpc2Server(inline bool) http.Handler {
	var h jsonrpc2.Handler = jsonrpc2.HandlerWithError(func(_ context.Context, _ *jsonrpc2.Conn, req *jsonrpc2.Request) (any, error) {
		var p [2]int64
		if req.Method != "add" || req.Params == nil {
			return nil, &jsonrpc2.Error{Code: jsonrpc2.CodeMethodNotFound, Message: "Method not found"}
		}
		if err := json.Unmarshal(*req.Params, &p); err != nil {
			return nil, &jsonrpc2.Error{Code: jsonrpc2.CodeInvalidParams, Message: err.Error()}
		}
		return p[0] + p[1], nil
	})
	if !inline {
		h = jsonrpc2.AsyncHandler(h)
	}
	up := websocket.Upgrader{Subprotocols: []string{"jsonrpc"}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		conn := jsonrpc2.NewConn(r.Context(), jsonrpc2ws.NewObjectStream(c), h, jsonrpc2.SetLogger(quiet{}))
		<-conn.DisconnectNotify()
	})
}

// quiet drops jsonrpc2's log lines (one per connection the client closes).
type quiet struct{}

func (quiet) Printf(string, ...any) {}

// serve serves h on loopback until the test ends and returns its address.
func serve(tb testing.TB, h http.Handler) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// benchCalls times b.N calls of the client in its child process, conns
// connections with window calls in flight on each, to h.
func benchCalls(b *testing.B, h http.Handler, conns, window int) {
	addr := serve(b, h)
	c, err := startClient(addr, conns, window, b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	g0 := goroutinesCreated()
	cpu0 := wstest.CPUTime(b)
	start := time.Now()
	err = c.run()
	elapsed := time.Since(start)
	cpu := wstest.CPUTime(b) - cpu0
	g := goroutinesCreated() - g0
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	n := float64(b.N)
	b.ReportMetric(n/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/call")
	b.ReportMetric(float64(g)/n, "goroutines/call")
}

// goroutinesCreated is the number of goroutines this process has started.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// client is the child process, connected and waiting for the word to
// start.
type client struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startClient starts the child process with calls calls to make over
// conns connections to addr, window in flight on each, and waits until
// it has connected.
func startClient(addr string, conns, window, calls int) (*client, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), addrEnv+"="+addr, fmt.Sprintf("%s=%d,%d,%d", loadEnv, conns, window, calls))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &client{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	if err := c.expect("ready"); err != nil {
		_ = stdin.Close()
		return nil, errors.Join(err, cmd.Wait())
	}
	return c, nil
}

// run has the client make its calls, and waits for it to exit.
func (c *client) run() error {
	_, err := fmt.Fprintln(c.stdin)
	if err == nil {
		err = c.expect("done")
	}
	_ = c.stdin.Close()
	return errors.Join(err, c.cmd.Wait())
}

// expect reads the client's next line, which must be want.
func (c *client) expect(want string) error {
	line, err := c.out.ReadString('\n')
	if got := strings.TrimSpace(line); got != want {
		return fmt.Errorf("client said %q (%v), want %q", got, err, want)
	}
	return nil
}

// runClient is the child process: it connects to addr as load says,
// says "ready", waits for a line on stdin, makes its calls, checking
// every answer, says "done", and closes its connections when stdin
// closes.
func runClient(addr, load string) error {
	var conns, window, calls int
	if _, err := fmt.Sscanf(load, "%d,%d,%d", &conns, &window, &calls); err != nil {
		return fmt.Errorf("load %q: %w", load, err)
	}
	cs := make([]*wstest.Conn, conns)
	for i := range cs {
		c, err := wstest.Dial(addr, "/rpc", "Sec-WebSocket-Protocol: jsonrpc")
		if err != nil {
			return err
		}
		cs[i] = c
	}
	in := bufio.NewReader(os.Stdin)
	fmt.Println("ready")
	if _, err := in.ReadString('\n'); err != nil {
		return err
	}
	errs := make([]error, conns)
	var wg sync.WaitGroup
	for i, c := range cs {
		n := calls / conns
		if i < calls%conns {
			n++
		}
		wg.Go(func() { errs[i] = callAll(c, uint64(i), n, window) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Println("done")
	_, _ = in.ReadString('\n') // until stdin closes
	for _, c := range cs {
		_ = c.WriteClose(1000, "")
		_ = c.Close()
	}
	return nil
}

// callAll makes n calls of "add" on c, window in flight, and checks each
// answer's id and result. The answers may come in any order.
func callAll(c *wstest.Conn, id uint64, n, window int) error {
	slots := make(chan struct{}, window)
	sendErr := make(chan error, 1)
	go func() {
		for seq := 1; seq <= n; seq++ {
			slots <- struct{}{}
			call := `{"jsonrpc":"2.0","id":` + strconv.Itoa(seq) + `,"method":"add","params":[` + strconv.FormatUint(id, 10) + `,` + strconv.Itoa(seq) + `]}`
			if err := c.WriteMessage(wstest.OpText, []byte(call)); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()
	answered := make([]bool, n+1)
	for range n {
		_, data, err := c.ReadMessage(time.Minute)
		if err != nil {
			return err
		}
		var a struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      int             `json:"id"`
			Result  uint64          `json:"result"`
			Error   json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(data, &a); err != nil {
			return fmt.Errorf("answer %s: %w", data, err)
		}
		if a.JSONRPC != "2.0" || a.Error != nil || a.ID < 1 || a.ID > n || answered[a.ID] || a.Result != id+uint64(a.ID) {
			return fmt.Errorf("wrong answer %s on connection %d", data, id)
		}
		answered[a.ID] = true
		<-slots
	}
	return <-sendErr
}
