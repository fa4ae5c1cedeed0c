package hardening

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// target is a wsmap server on loopback, through the mux, with these
// routes:
//
//	/echo   echoes every message, with the subprotocol "echo" or none
//	/send   sends 64 KiB messages until the connection ends
//	/panic  panics
//	/hold   waits for the connection to end
type target struct {
	srv      *service.Server
	addr     string
	url      string // ws://addr
	handlers atomic.Int64
	panics   atomic.Int64
	reported atomic.Int64 // failures given to Options.OnError

	mu    sync.Mutex
	ended map[string]int // how handlers ended: the error's text, by count
}

// endings returns how the handlers that returned so far ended.
func (tg *target) endings() map[string]int {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return maps.Clone(tg.ended)
}

// startTarget starts a target with opts for every route and the given
// handshake timeout; the cleanup shuts it down.
func startTarget(t testing.TB, opts service.Options, handshake time.Duration) *target {
	t.Helper()
	tg := &target{ended: map[string]int{}}
	// The /panic route's panics (thousands, in the fault tests) are
	// counted here rather than logged, stack and all, through
	// slog.Default().
	opts.OnError = func(*service.Conn, error) { tg.reported.Add(1) }
	count := func(h service.HandlerFunc) service.Handler {
		return service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
			tg.handlers.Add(1)
			defer tg.handlers.Add(-1)
			err := h(ctx, c)
			tg.mu.Lock()
			tg.ended[fmt.Sprint(err)]++
			tg.mu.Unlock()
			return err
		})
	}
	echo := count(func(ctx context.Context, c *service.Conn) error {
		for {
			typ, data, err := c.Recv(ctx)
			if err != nil {
				return err
			}
			if err := c.Send(ctx, typ, data); err != nil {
				return err
			}
		}
	})
	m, err := mux.New(
		mux.Route{Pattern: `/echo`, Protocols: []mux.Protocol{{Name: "echo", Handler: echo}}, NoProtocol: echo, Options: &opts},
		mux.Route{Pattern: `/send`, NoProtocol: count(func(ctx context.Context, c *service.Conn) error {
			msg := make([]byte, 64<<10)
			for {
				if err := c.Send(ctx, protocol.Binary, msg); err != nil {
					return err
				}
			}
		}), Options: &opts},
		mux.Route{Pattern: `/panic`, NoProtocol: count(func(ctx context.Context, c *service.Conn) error {
			tg.panics.Add(1)
			panic("handler bug")
		}), Options: &opts},
		mux.Route{Pattern: `/hold`, NoProtocol: count(func(ctx context.Context, c *service.Conn) error {
			<-ctx.Done()
			return nil
		}), Options: &opts},
	)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg.srv = &service.Server{Handler: m, ReadHeaderTimeout: handshake}
	tg.addr = l.Addr().String()
	tg.url = "ws://" + tg.addr
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tg.srv.Serve(l)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tg.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
	})
	return tg
}

// healthy checks that the target still serves: a handshake with the
// "echo" subprotocol succeeds and a message comes back.
func (tg *target) healthy(t testing.TB) {
	t.Helper()
	if err := tg.echoOnce(); err != nil {
		t.Fatalf("server unhealthy: %v", err)
	}
}

func (tg *target) echoOnce() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := service.Dial(ctx, tg.url+"/echo", &service.DialOptions{Subprotocols: []string{"echo"}})
	if err != nil {
		return err
	}
	defer c.Close(protocol.CloseNormal, "")
	if c.Subprotocol() != "echo" {
		return fmt.Errorf("subprotocol %q, want echo", c.Subprotocol())
	}
	if err := c.Send(ctx, protocol.Text, []byte("ping?")); err != nil {
		return err
	}
	_, data, err := c.Recv(ctx)
	if err != nil {
		return err
	}
	if string(data) != "ping?" {
		return fmt.Errorf("echo %q, want %q", data, "ping?")
	}
	return nil
}

// baseline is the goroutine count and live heap at one moment.
type baseline struct {
	goroutines int
	heap       uint64
}

func measure() baseline {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return baseline{runtime.NumGoroutine(), ms.HeapAlloc}
}

// returnsTo waits up to d for goroutines and heap to come back to within
// slack of b and fails the test with the figures if they do not.
func (b baseline) returnsTo(t testing.TB, d time.Duration, goroutineSlack int, heapSlack uint64) {
	t.Helper()
	var now baseline
	ok := wstest.Settle(d, func() bool {
		now = measure()
		return now.goroutines <= b.goroutines+goroutineSlack && now.heap <= b.heap+heapSlack
	})
	t.Logf("goroutines %d -> %d, live heap %d KiB -> %d KiB", b.goroutines, now.goroutines, b.heap>>10, now.heap>>10)
	if !ok {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("did not return to baseline: goroutines %d (was %d), live heap %d KiB (was %d KiB)\n%s",
			now.goroutines, b.goroutines, now.heap>>10, b.heap>>10, firstLines(string(buf[:n]), 60))
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
