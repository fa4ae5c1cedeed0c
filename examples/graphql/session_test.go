package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
	"github.com/wsmap/wsmap/wsmaptest"
)

// TestSlowSubscriberGetsAnError serves the mux in memory to a
// graphql-transport-ws client that subscribes to messages and then reads
// nothing while messages are posted: once it is more than feedQueue
// messages behind, the feed drops it, and the client, reading again,
// finds the results that were on their way, then the operation's error,
// and no complete.
func TestSlowSubscriberGetsAnError(t *testing.T) {
	t.Parallel()
	s, c := inMemory(t)
	c.init()
	c.send(`{"id":"m","type":"subscribe","payload":{"query":"subscription { messages { text } }"}}`)
	c.sync()
	post := &request{Query: `mutation { post(text: "x") { id } }`}
	for n := 0; s.feed.len() > 0; n++ {
		if n == 100_000 {
			t.Fatalf("not dropped after %d messages", n)
		}
		s.exec.exec(c.ctx, post)
	}
	f := c.recv()
	for ; f.Type == "next"; f = c.recv() {
		if f.ID != "m" || f.Payload != `{"data":{"messages":{"text":"x"}}}` {
			t.Fatalf("before the error: %+v", f)
		}
	}
	want := frame{ID: "m", Type: "error", Payload: `[{"message":"` + errFellBehind.Error() + `"}]`}
	if f != want {
		t.Errorf("got %+v, want %+v", f, want)
	}
	if got := c.sync(); len(got) != 0 {
		t.Errorf("after the error: %+v", got)
	}
}

// TestTooManyWaiting has a graphql-transport-ws client send pings
// without reading the pongs: once the server's writes wait for the
// client and more pings wait their turn than the peer queues, the
// connection is closed with 1008 rather than dropping pings unanswered.
// The client then reads pongs, each answering a ping in order, and the
// close.
func TestTooManyWaiting(t *testing.T) {
	t.Parallel()
	_, c := inMemory(t)
	pad := strings.Repeat("x", 4<<10) // 16 pongs fill the in-memory pipe
	const pings = 300
	for i := range pings {
		c.send(fmt.Sprintf(`{"type":"ping","payload":{"n":%d,"pad":%q}}`, i, pad))
	}
	pongs := c.expectClose(protocol.ClosePolicyViolation, "too many messages waiting to be handled")
	if len(pongs) < 1 || len(pongs) >= pings {
		t.Fatalf("%d pongs, want between 1 and %d", len(pongs), pings-1)
	}
	for i, f := range pongs {
		if want := fmt.Sprintf(`{"n":%d,"pad":%q}`, i, pad); f.Type != "pong" || f.Payload != want {
			t.Fatalf("message %d: %s %.40s…", i, f.Type, f.Payload)
		}
	}
}

// inMemory serves the program's mux in memory, with minute-long timeouts,
// and returns the server and a graphql-transport-ws client of it, bound
// to 20 seconds.
func inMemory(t *testing.T) (*server, *client) {
	t.Helper()
	s, err := newServer(time.Minute, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	srv := wsmaptest.NewServer(t, s.newMux())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	conn, err := srv.Dial(ctx, "/graphql", &service.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	return s, &client{t: t, ctx: ctx, c: conn}
}
