package natstransport_test

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/room/internal/roomtest"
	"github.com/wsmap/wsmap/room/natstransport"
	"github.com/wsmap/wsmap/service"
)

// TestEveryMessageOnceEverywhere: three servers, two clients on each;
// every client and every server broadcasts, and every member, wherever
// it is connected, receives every message exactly once, each sender's
// in the order sent.
func TestEveryMessageOnceEverywhere(t *testing.T) {
	t.Parallel()
	ns := startNATS(t, -1)
	nodes := []*node{startNode(t, ns.URL()), startNode(t, ns.URL()), startNode(t, ns.URL())}
	type client struct {
		name string
		c    *service.Conn
	}
	var clients []client
	var everyone []string
	for i, n := range nodes {
		for j := range 2 {
			name := fmt.Sprintf("c%d%d", i, j)
			clients = append(clients, client{name, dial(t, n.base+"/?nick="+name)})
			everyone = append(everyone, name)
		}
	}
	for i, n := range nodes {
		wstest.WaitFor(t, 5*time.Second, fmt.Sprintf("server %d to see all six members", i), func() bool {
			return cmp.Equal(n.members("r"), everyone)
		})
	}

	const each = 20
	var want []string
	var wg sync.WaitGroup
	for _, cl := range clients {
		for k := range each {
			want = append(want, fmt.Sprintf("%s#%02d", cl.name, k))
		}
		wg.Go(func() {
			for k := range each {
				if err := cl.c.Send(t.Context(), protocol.Text, []byte(fmt.Sprintf("%s#%02d", cl.name, k))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for i, n := range nodes {
		msg := fmt.Sprintf("server%d", i)
		want = append(want, msg)
		wg.Go(func() {
			if err := n.hub.Room("r").Broadcast(protocol.Text, []byte(msg)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	slices.Sort(want)

	for _, cl := range clients {
		wg.Go(func() {
			got := make([]string, 0, len(want))
			last := map[string]int{}
			for range want {
				msg := recvText(t, cl.c, 10*time.Second)
				got = append(got, msg)
				// One sender's messages stay in order.
				if from, seq, ok := strings.Cut(msg, "#"); ok {
					k, _ := strconv.Atoi(seq)
					if prev, seen := last[from]; seen && k <= prev {
						t.Errorf("%s got %s after #%02d", cl.name, msg, prev)
					}
					last[from] = k
				}
			}
			slices.Sort(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", cl.name, diff)
			}
			quiet(t, cl.c, 300*time.Millisecond, cl.name)
		})
	}
	wg.Wait()
}

// TestPresenceAcrossServers: members joining and leaving on any server
// are seen on every server, with their metadata; a server that starts
// after others learns who is already there.
func TestPresenceAcrossServers(t *testing.T) {
	t.Parallel()
	ns := startNATS(t, -1)
	a, b := startNode(t, ns.URL()), startNode(t, ns.URL())
	dial(t, a.base+"/?nick=a1")
	b1 := dial(t, b.base+"/?nick=b1")
	dial(t, b.base+"/?nick=b2")
	for _, n := range []*node{a, b} {
		wstest.WaitFor(t, 5*time.Second, "a1, b1, b2 everywhere", func() bool {
			return cmp.Equal(n.members("r"), []string{"a1", "b1", "b2"})
		})
	}

	// A third server, started now, learns the members already there.
	c := startNode(t, ns.URL())
	dial(t, c.base+"/?nick=c1")
	for i, n := range []*node{a, b, c} {
		wstest.WaitFor(t, 5*time.Second, fmt.Sprintf("server %d to see c1", i), func() bool {
			return cmp.Equal(n.members("r"), []string{"a1", "b1", "b2", "c1"})
		})
	}
	// Metadata travels with the member.
	for _, info := range c.hub.Room("r").Members() {
		if info.Meta["nick"] == "b1" && info.ID == "" {
			t.Errorf("b1 has no ID: %+v", info)
		}
	}

	// A departure is seen everywhere.
	if err := b1.Close(protocol.CloseNormal, ""); err != nil {
		t.Fatal(err)
	}
	for i, n := range []*node{a, b, c} {
		wstest.WaitFor(t, 5*time.Second, fmt.Sprintf("server %d to see b1 leave", i), func() bool {
			return cmp.Equal(n.members("r"), []string{"a1", "b2", "c1"})
		})
	}
	if got := a.hub.Room("r").Len(); got != 1 {
		t.Errorf("server a has %d local members, want 1", got)
	}
}

// TestRoomNamesStayApart: rooms whose names would, used as they are,
// make other subjects (tokens, wildcards, white space) stay apart from
// each other and from the rooms those subjects name.
func TestRoomNamesStayApart(t *testing.T) {
	t.Parallel()
	ns := startNATS(t, -1)
	a, b := startNode(t, ns.URL()), startNode(t, ns.URL())
	names := []string{"a", "a.b", "a.*", "a.>", "*", ">", "a b", "", "~", "~61", "a~2eb", "é", strings.Repeat("x", 200), strings.Repeat("x", 201)}
	conns := map[string][2]*service.Conn{}
	for _, name := range names {
		q := "/?room=" + url.QueryEscape(name) + "&nick=" + url.QueryEscape("in "+name)
		if name == "" {
			q = "/?nick=empty" // the handler's default room
		}
		conns[name] = [2]*service.Conn{dial(t, a.base+q), dial(t, b.base+q)}
	}
	roomOf := func(name string) string {
		if name == "" {
			return "r"
		}
		return name
	}
	for _, name := range names {
		wstest.WaitFor(t, 5*time.Second, fmt.Sprintf("room %q on both servers", name), func() bool {
			return len(a.members(roomOf(name))) == 2 && len(b.members(roomOf(name))) == 2
		})
	}
	for _, name := range names {
		if err := conns[name][0].Send(t.Context(), protocol.Text, []byte("to "+name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range names {
		for side, c := range conns[name] {
			if got := recvText(t, c, 5*time.Second); got != "to "+name {
				t.Errorf("room %q, server %d: got %q", name, side, got)
			}
		}
	}
	for _, name := range names {
		quiet(t, conns[name][1], 50*time.Millisecond, fmt.Sprintf("room %q on server b", name))
	}
}

// TestGracefulCloseForgetsAtOnce: a transport that closes tells the
// others, which forget its members at once rather than after
// PeerTimeout.
func TestGracefulCloseForgetsAtOnce(t *testing.T) {
	t.Parallel()
	ns := startNATS(t, -1)
	opts := natstransport.Options{HeartbeatInterval: time.Second, PeerTimeout: time.Minute}
	trA, err := natstransport.Connect(ns.URL(), &opts)
	if err != nil {
		t.Fatal(err)
	}
	defer trA.Close()
	trB, err := natstransport.Connect(ns.URL(), &opts)
	if err != nil {
		t.Fatal(err)
	}
	hubA := roomtest.NewHub(t, &room.Options{Transport: trA})
	hubB := roomtest.NewHub(t, &room.Options{Transport: trB})
	dial(t, serve(t, roomtest.Member(hubA, true))+"/?nick=a1")
	dial(t, serve(t, roomtest.Member(hubB, true))+"/?nick=b1")
	wstest.WaitFor(t, 5*time.Second, "both members on a", func() bool {
		r := hubA.Room("r")
		return r != nil && cmp.Equal(nicks(r.Members()), []string{"a1", "b1"})
	})
	if err := trB.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	wstest.WaitFor(t, 5*time.Second, "b1 gone from a", func() bool {
		return cmp.Equal(nicks(hubA.Room("r").Members()), []string{"a1"})
	})
	t.Logf("forgotten %v after close", time.Since(start))
	if err := trB.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := trB.Attach(t.Context(), "x", func(room.Event) {}); !errors.Is(err, natstransport.ErrClosed) {
		t.Errorf("Attach after Close: %v, want ErrClosed", err)
	}
	if err := trB.Publish(t.Context(), "x", room.Event{Kind: room.Message, Type: protocol.Text}); !errors.Is(err, natstransport.ErrClosed) {
		t.Errorf("Publish after Close: %v, want ErrClosed", err)
	}
}

func TestOptionsAndAttachErrors(t *testing.T) {
	t.Parallel()
	ns := startNATS(t, -1)
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, tc := range []struct {
		opts natstransport.Options
		want string
	}{
		{natstransport.Options{Prefix: "a..b"}, `prefix "a..b": empty token 2`},
		{natstransport.Options{Prefix: "app.*"}, `prefix "app.*": token "*" has '*'`},
		{natstransport.Options{Prefix: "a>"}, `prefix "a>": token "a>" has '>'`},
		{natstransport.Options{Prefix: "my app"}, `prefix "my app": token "my app" has ' '`},
		{natstransport.Options{Prefix: "."}, `prefix ".": empty token 1`},
		{natstransport.Options{HeartbeatInterval: time.Second, PeerTimeout: time.Second}, "PeerTimeout 1s must be longer than HeartbeatInterval 1s"},
	} {
		tr, err := natstransport.New(nc, &tc.opts)
		if err == nil {
			tr.Close()
			t.Errorf("%+v: no error", tc.opts)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.opts, err, tc.want)
		}
	}

	tr, err := natstransport.New(nc, &natstransport.Options{Prefix: "tenant1.chat"})
	if err != nil {
		t.Fatal(err)
	}
	detach, err := tr.Attach(t.Context(), "r", func(room.Event) {})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Attach(t.Context(), "r", func(room.Event) {}); !errors.Is(err, natstransport.ErrAttached) {
		t.Errorf("second Attach: %v, want ErrAttached", err)
	}
	detach()
	detach() // a second call does nothing
	detach, err = tr.Attach(t.Context(), "r", func(room.Event) {})
	if err != nil {
		t.Fatalf("Attach after detach: %v", err)
	}
	defer detach()
	if err := tr.Publish(t.Context(), "r", room.Event{Kind: room.Message, Type: 9}); err == nil {
		t.Error("Publish of message type 9: no error")
	}
	if err := tr.Publish(t.Context(), "r", room.Event{Kind: 42}); err == nil {
		t.Error("Publish of event kind 42: no error")
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if !nc.IsConnected() {
		t.Error("Close of a Transport from New closed the caller's connection")
	}
}

// TestMalformedMessagesReported: what cannot be read on a transport's
// subjects is reported to OnError and dropped; the room carries on.
func TestMalformedMessagesReported(t *testing.T) {
	t.Parallel()
	ns := startNATS(t, -1)
	errs := make(chan error, 16)
	opts := testOpts
	opts.OnError = func(err error) { errs <- err }
	tr, err := natstransport.Connect(ns.URL(), &opts)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	hub := roomtest.NewHub(t, &room.Options{Transport: tr})
	c := dial(t, serve(t, roomtest.Member(hub, true))+"/?nick=a")
	wstest.WaitFor(t, 5*time.Second, "the room", func() bool { return hub.Room("r") != nil })
	// A flush's round trip has the server take the room's subscription
	// before the messages below, sent on another connection, reach it.
	if err := tr.Conn().Flush(); err != nil {
		t.Fatal(err)
	}

	nc, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, subj := range []string{"wsmap.room.r", "wsmap.alive"} {
		for _, data := range [][]byte{nil, {9, 1}, {1, 1, 5, 'x'}, {1, 99, 1, 'x'}} {
			if err := nc.Publish(subj, data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for range 8 {
		select {
		case err := <-errs:
			if !errors.Is(err, natstransport.ErrMalformed) {
				t.Errorf("reported %v, want ErrMalformed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a malformed message was not reported")
		}
	}
	if err := c.Send(t.Context(), protocol.Text, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if got := recvText(t, c, 5*time.Second); got != "still here" {
		t.Errorf("got %q", got)
	}
}

// TestConnectionClosedForGood: once the caller's connection is closed
// (or gives up reconnecting), the transport reports it, and its rooms
// list only their own members; local delivery goes on.
func TestConnectionClosedForGood(t *testing.T) {
	t.Parallel()
	ns := startNATS(t, -1)
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 16)
	opts := testOpts
	opts.OnError = func(err error) { errs <- err }
	tr, err := natstransport.New(nc, &opts)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	hub := roomtest.NewHub(t, &room.Options{Transport: tr})
	a1 := dial(t, serve(t, roomtest.Member(hub, true))+"/?nick=a1")
	b := startNode(t, ns.URL())
	dial(t, b.base+"/?nick=b1")
	wstest.WaitFor(t, 5*time.Second, "b1 on a", func() bool {
		r := hub.Room("r")
		return r != nil && cmp.Equal(nicks(r.Members()), []string{"a1", "b1"})
	})

	nc.Close()
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrConnectionClosed) {
			t.Errorf("reported %v, want nats.ErrConnectionClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the closed connection was not reported")
	}
	wstest.WaitFor(t, 5*time.Second, "a to list only a1", func() bool {
		return cmp.Equal(nicks(hub.Room("r").Members()), []string{"a1"})
	})
	if err := a1.Send(t.Context(), protocol.Text, []byte("alone")); err != nil {
		t.Fatal(err)
	}
	if got := recvText(t, a1, 5*time.Second); got != "alone" {
		t.Errorf("a1 got %q", got)
	}
	if got := recvText(t, a1, 5*time.Second); !strings.Contains(got, nats.ErrConnectionClosed.Error()) {
		t.Errorf("a1 got %q, want the broadcast's error", got)
	}
}
