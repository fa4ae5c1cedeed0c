package wsmaptest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
	"github.com/wsmap/wsmap/wsmaptest"
)

// TestKeepaliveOnFakeTime runs keepalive for ten minutes of a synctest
// bubble's clock, then cuts the network and sees the silent peer dropped
// after PingInterval+PongTimeout, all in well under a second of real time.
func TestKeepaliveOnFakeTime(t *testing.T) {
	t.Parallel()
	realStart := time.Now()
	synctest.Test(t, func(t *testing.T) {
		conns := make(chan *service.Conn, 1)
		s := wsmaptest.NewServer(t, &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
			conns <- c
			<-ctx.Done()
			return nil
		})})
		client, err := s.Dial(t.Context(), "/", nil)
		if err != nil {
			t.Fatal(err)
		}
		server := <-conns

		time.Sleep(10 * time.Minute) // twenty pings each way, every one answered
		synctest.Wait()
		if server.State() != service.StateOpen || client.State() != service.StateOpen {
			t.Fatalf("after 10 minutes: server %v, client %v; want both open", server.State(), client.State())
		}
		if err := client.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}

		s.Cut()
		start := time.Now()
		<-server.Done()
		waited := time.Since(start)
		t.Logf("silent peer dropped after %v of the bubble's clock", waited)
		if code, _ := service.CloseStatus(server.Err()); code != protocol.CloseAbnormal {
			t.Errorf("server ended with %v, want 1006", server.Err())
		}
		limit := service.DefaultPingInterval + service.DefaultPongTimeout
		if waited < service.DefaultPongTimeout || waited > limit {
			t.Errorf("silent peer dropped after %v, want within %v", waited, limit)
		}
		s.Close()
	})
	if d := time.Since(realStart); d > time.Second {
		t.Errorf("took %v of real time", d)
	}
}

// TestRedialOnFakeTime: service.Redial reaches a Server in memory through
// DialOptions, inside a bubble, where its waits between attempts take no
// real time.
func TestRedialOnFakeTime(t *testing.T) {
	t.Parallel()
	realStart := time.Now()
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int32
		// Each connection gets its number, then 1012 (service restart).
		s := wsmaptest.NewServer(t, &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
			if err := c.Send(ctx, protocol.Text, []byte(fmt.Sprintf("connection %d to %s", n.Add(1), c.Request().URL.Path))); err != nil {
				return err
			}
			return &service.CloseError{Code: protocol.CloseServiceRestart}
		})})
		start := time.Now()
		r := service.Redial(t.Context(), s.URL+"/feed", &service.RedialOptions{Dial: s.DialOptions(), MinBackoff: time.Second})
		defer r.Close()
		var got []string
		for range 3 {
			_, data, err := r.Recv(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(data))
		}
		want := []string{"connection 1 to /feed", "connection 2 to /feed", "connection 3 to /feed"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("received (-want +got):\n%s", diff)
		}
		// Two waits of 0.5 to 1 s each, on the bubble's clock.
		if d := time.Since(start); d < time.Second || d > 2*time.Second {
			t.Errorf("three connections took %v of the bubble's clock, want 1s to 2s", d)
		}
	})
	if d := time.Since(realStart); d > time.Second {
		t.Errorf("took %v of real time", d)
	}
}

// outsideBubbleEnv makes TestServerMadeOutsideTheBubble run its failing
// scenario, in a child process.
const outsideBubbleEnv = "WSMAPTEST_OUTSIDE_BUBBLE"

// TestServerMadeOutsideTheBubble: a Server made outside a synctest bubble
// and dialed from inside one (by Dial, and by service.Redial through
// DialOptions) fails that test, saying to make the Server inside the
// bubble, and the dials fail with ErrOtherBubble; the test binary goes on.
// Before the kit refused them, such dials ended the whole binary with
// "fatal error: select on synctest channel from outside bubble". The
// scenario runs in a child process, since it fails its test by design.
func TestServerMadeOutsideTheBubble(t *testing.T) {
	if os.Getenv(outsideBubbleEnv) != "" {
		dialAcrossTheBubble(t)
		return
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestServerMadeOutsideTheBubble$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), outsideBubbleEnv+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("child: %v, want exit status 1 (a failed test)", err)
	}
	for _, want := range []string{
		"--- FAIL: TestServerMadeOutsideTheBubble",
		"Call NewServer (or Connect, Pair) inside the function given to synctest.Test",
		"checked: Dial refused",
		"checked: Redial stopped",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("child's output lacks %q", want)
		}
	}
	for _, bad := range []string{"fatal error", "panic", "UNEXPECTED"} {
		if strings.Contains(string(out), bad) {
			t.Errorf("child's output has %q", bad)
		}
	}
	if t.Failed() {
		t.Logf("child's output:\n%s", out)
	}
}

// dialAcrossTheBubble makes a Server outside a bubble and dials it from
// inside. It fails its test.
func dialAcrossTheBubble(t *testing.T) {
	s := wsmaptest.NewServer(t, &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		<-ctx.Done()
		return nil
	})})
	synctest.Test(t, func(t *testing.T) {
		_, err := s.Dial(t.Context(), "/", nil)
		he, ok := wsmaptest.Refusal(err)
		if !errors.Is(err, wsmaptest.ErrOtherBubble) || !ok || he.Status != http.StatusForbidden {
			t.Logf("UNEXPECTED: Dial: %v", err)
		} else {
			t.Logf("checked: Dial refused: %v", err)
		}
		r := service.Redial(t.Context(), s.URL+"/", &service.RedialOptions{Dial: s.DialOptions()})
		<-r.Done()
		if !errors.Is(r.Err(), wsmaptest.ErrOtherBubble) {
			t.Logf("UNEXPECTED: Redial: %v", r.Err())
		} else {
			t.Logf("checked: Redial stopped: %v", r.Err())
		}
	})
}
