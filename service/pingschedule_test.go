package service

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/wstest"
)

// scheduled returns the connections s has scheduled, first due first.
func scheduled(s *pingSchedule) []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cs []*Conn
	for k := s.head; k != nil; k = k.next {
		cs = append(cs, k.c)
	}
	return cs
}

// TestPingSchedule: a Server's connections that share a ping interval
// share one schedule, each pinged once an interval, those with another
// interval another; a connection leaves its schedule when it closes.
func TestPingSchedule(t *testing.T) {
	t.Parallel()
	const fast, slow = 40 * time.Millisecond, 120 * time.Millisecond
	hold := func(ctx context.Context, c *Conn) error {
		<-ctx.Done()
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("/fast", &Endpoint{Handler: HandlerFunc(hold), Options: &Options{PingInterval: fast}})
	mux.Handle("/slow", &Endpoint{Handler: HandlerFunc(hold), Options: &Options{PingInterval: slow}})
	srv, addr := startServer(t, mux)

	type client struct {
		path string
		rc   *wstest.Conn
	}
	var clients []client
	for _, path := range []string{"/fast", "/slow", "/fast", "/slow", "/fast"} {
		rc, err := wstest.Dial(addr, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rc.Close() })
		clients = append(clients, client{path, rc})
	}
	waitFor(t, 5*time.Second, func() bool {
		return len(scheduled(srv.reg.pings.of(fast))) == 3 && len(scheduled(srv.reg.pings.of(slow))) == 2
	})

	// Each client counts the pings of 600 ms (5 intervals of the slow
	// schedule, 15 of the fast one), answering none: the pong timeout
	// is far.
	const window = 600 * time.Millisecond
	counts := make(chan [2]int, len(clients))
	for i, cl := range clients {
		go func() {
			n := 0
			end := time.Now().Add(window)
			for time.Now().Before(end) {
				f, err := cl.rc.ReadFrame(time.Until(end))
				if err != nil {
					break
				}
				if f.Opcode == wstest.OpPing {
					n++
				}
			}
			counts <- [2]int{i, n}
		}()
	}
	for range clients {
		c := <-counts
		cl := clients[c[0]]
		every := fast
		if cl.path == "/slow" {
			every = slow
		}
		// At least half the pings due, and never more than one an
		// interval: the machine may be loaded, but no connection is
		// pinged for another.
		if want := int(window / every); c[1] < want/2 || c[1] > want+1 {
			t.Errorf("client %d of %s got %d pings in %v, want about %d", c[0], cl.path, c[1], window, want)
		}
	}

	// Closing leaves the schedule.
	for _, cl := range clients[:2] {
		cl.rc.Close()
	}
	waitFor(t, 5*time.Second, func() bool {
		return len(scheduled(srv.reg.pings.of(fast))) == 2 && len(scheduled(srv.reg.pings.of(slow))) == 1
	})
}

// TestPingScheduleOrder drives a schedule by hand: connections are due
// in the order they were added, each one interval after, and one removed
// from the middle, the head or the tail leaves the others in order.
func TestPingScheduleOrder(t *testing.T) {
	t.Parallel()
	s := &pingSchedule{every: time.Hour} // never fires during the test
	cs := make([]*Conn, 5)
	ks := make([]*keepalive, 5)
	for i := range cs {
		cs[i] = &Conn{}
		ks[i] = s.add(cs[i])
	}
	t.Cleanup(func() { s.timer.Stop() })
	for i := 1; i < len(ks); i++ {
		if ks[i].due < ks[i-1].due {
			t.Errorf("connection %d is due before connection %d", i, i-1)
		}
	}
	s.remove(ks[2])
	s.remove(ks[0])
	s.remove(ks[4])
	s.remove(ks[4]) // twice: nothing more
	got := scheduled(s)
	if len(got) != 2 || got[0] != cs[1] || got[1] != cs[3] {
		t.Errorf("after removals the schedule holds %d connections, want connections 1 and 3 in order", len(got))
	}
	s.remove(ks[1])
	s.remove(ks[3])
	if got := scheduled(s); len(got) != 0 || s.tail != nil {
		t.Errorf("an emptied schedule holds %d connections (tail set: %v)", len(got), s.tail != nil)
	}
}
