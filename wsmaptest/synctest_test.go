package wsmaptest_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

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
