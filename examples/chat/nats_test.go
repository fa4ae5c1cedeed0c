package main

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/natstest"
	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// askWho asks the room's presence with "/who" and returns the nicknames it
// lists, sorted.
func askWho(t *testing.T, ctx context.Context, c *service.Conn) []string {
	t.Helper()
	if err := c.Send(ctx, protocol.Text, []byte("/who")); err != nil {
		t.Fatal(err)
	}
	m := recv(t, ctx, c)
	list, ok := strings.CutPrefix(m.Text, "in shared: ")
	if m.Kind != "who" || !ok {
		t.Fatalf("/who answered %+v", m)
	}
	nicks := strings.Split(list, ", ")
	slices.Sort(nicks)
	return nicks
}

// TestChatAcrossServers runs three chat servers sharing rooms over NATS,
// a member on each: joins and messages reach every member once; /who
// lists everyone; a server killed outright (no goodbye) drops out of
// the others' presence within seconds.
func TestChatAcrossServers(t *testing.T) {
	t.Parallel()
	url := natstest.Start(t, -1).URL()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var procs []*wstest.Program
	var conns []*service.Conn
	var nicks []string
	for range 3 {
		p := wstest.Start(t, bin, "-addr", "127.0.0.1:0", "-nats", url)
		procs = append(procs, p)
		c, nick := join(t, ctx, "ws://"+p.Addr+"/chat/shared", "shared")
		// Nicknames are drawn at random; the checks below tell members
		// apart by them, so a member that drew a taken one joins again.
		for slices.Contains(nicks, nick) {
			if err := c.Close(protocol.CloseNormal, ""); err != nil {
				t.Fatal(err)
			}
			for _, other := range conns {
				expect(t, ctx, other, nick+" has joined.")
				expect(t, ctx, other, nick+" has left.")
			}
			c, nick = join(t, ctx, "ws://"+p.Addr+"/chat/shared", "shared")
		}
		// Those already there hear of the newcomer, whichever server
		// they are on.
		for _, other := range conns {
			expect(t, ctx, other, nick+" has joined.")
		}
		conns = append(conns, c)
		nicks = append(nicks, nick)
	}
	// A message from the member on the second server reaches all
	// three, once.
	if err := conns[1].Send(ctx, protocol.Text, []byte("hello from the middle")); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		expect(t, ctx, c, nicks[1]+": hello from the middle")
	}
	for i, c := range conns {
		if got := askWho(t, ctx, c); !slices.Equal(got, sortedCopy(nicks)) {
			t.Errorf("/who on server %d: %v, want %v", i, got, sortedCopy(nicks))
		}
	}

	// The third server dies without a word.
	if err := procs[2].Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	want := sortedCopy(nicks[:2])
	for {
		got := askWho(t, ctx, conns[0])
		if slices.Equal(got, want) {
			break
		}
		// Heartbeats every second, forgotten after four silent ones.
		if time.Since(start) > 15*time.Second {
			t.Fatalf("/who still %v %v after the kill, want %v", got, time.Since(start), want)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("the killed server's member gone from presence after %v", time.Since(start).Round(100*time.Millisecond))
	if err := conns[0].Send(ctx, protocol.Text, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	expect(t, ctx, conns[0], nicks[0]+": still here")
	expect(t, ctx, conns[1], nicks[0]+": still here")
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestChatNATSUnreachable: -nats with nothing listening is a clear
// error at start, not a server that silently keeps its rooms local.
func TestChatNATSUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = run(ctx, "127.0.0.1:0", "nats://"+addr, new(strings.Builder), new(strings.Builder))
	if err == nil || !strings.Contains(err.Error(), "natstransport: connect") {
		t.Errorf("run with an unreachable NATS: %v", err)
	}
}
