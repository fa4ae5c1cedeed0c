package natstransport_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsmap/wsmap/internal/natstest"
	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/room/natstransport"
	"github.com/wsmap/wsmap/service"
)

// offsetText makes each broadcast "OFFSET EPOCH TEXT".
func offsetText(pos room.Position, _ room.MemberInfo, _ protocol.MessageType, data []byte) (protocol.MessageType, []byte) {
	return protocol.Text, fmt.Appendf(nil, "%d %s %s", pos.Offset, pos.Epoch, data)
}

// parseOffsetText reads what offsetText makes.
func parseOffsetText(msg string) (room.Position, string, error) {
	off, rest, _ := strings.Cut(msg, " ")
	epoch, text, _ := strings.Cut(rest, " ")
	n, err := strconv.ParseUint(off, 10, 64)
	if err != nil || epoch == "" {
		return room.Position{}, "", fmt.Errorf("message %q has no position", msg)
	}
	return room.Position{Epoch: epoch, Offset: n}, text, nil
}

// historyNode is a wsmap server whose room "h" keeps its history in
// JetStream: a client joins it, or resumes from the position in the
// query parameter "since" (closed with 4000 if it cannot), then reads.
type historyNode struct {
	hub  *room.Hub
	tr   *natstransport.Transport
	base string
}

func startHistoryNode(t *testing.T, url string) *historyNode {
	t.Helper()
	return startHistoryNodeWith(t, url, newHistoryHub, historyHandler)
}

// startHistoryNodeWith is startHistoryNode with the given hub and
// handler.
func startHistoryNodeWith(t *testing.T, url string, newHub func(*natstransport.Transport) (*room.Hub, error), handler func(*room.Hub) http.Handler) *historyNode {
	t.Helper()
	opts := testOpts
	opts.OnError = func(err error) { t.Logf("transport: %v", err) }
	tr, err := natstransport.Connect(url, &opts, nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	hub, err := newHub(tr)
	if err != nil {
		_ = tr.Close()
		t.Fatal(err)
	}
	n := &historyNode{tr: tr, hub: hub}
	n.base = serve(t, handler(n.hub))
	t.Cleanup(func() { _ = tr.Close() })
	return n
}

// newHistoryHub returns a hub whose rooms keep their history in tr.
func newHistoryHub(tr *natstransport.Transport) (*room.Hub, error) {
	return room.NewHub(&room.Options{Transport: tr, QueueSize: 1 << 14, History: &room.History{Size: 10_000, Encode: offsetText}})
}

// historyHandler serves members of the hub's room "h". A client says
// what it wants in the query parameter "since", or else in its first
// message ("since " and the value): "join", or a position to resume
// from. A position
// that cannot be recovered closes the connection with 4000.
func historyHandler(hub *room.Hub) http.Handler { return greetingHandler(hub, "") }

// greetingHandler is historyHandler that also sends each member greeting
// alone (Member.Send) once it has joined or resumed, unless it is "".
func greetingHandler(hub *room.Hub, greeting string) http.Handler {
	return &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		since := c.Request().URL.Query().Get("since")
		if since == "" {
			_, first, err := c.Recv(ctx)
			if err != nil {
				return err
			}
			since, _ = strings.CutPrefix(string(first), "since ")
		}
		if since == "join" {
			since = ""
		}
		var m *room.Member
		var err error
		if since != "" {
			pos, perr := room.ParsePosition(since)
			if perr != nil {
				return &service.CloseError{Code: 4400, Reason: perr.Error()}
			}
			m, err = hub.Resume(ctx, "h", c, nil, pos)
		} else {
			m, err = hub.Join(ctx, "h", c, nil)
		}
		if err != nil {
			return &service.CloseError{Code: 4000, Reason: err.Error()}
		}
		defer m.Leave()
		if greeting != "" {
			if err := m.Send(protocol.Text, []byte(greeting)); err != nil {
				return err
			}
		}
		_, _, err = c.Recv(ctx)
		return err
	})}
}

// recvOffset receives what offsetText made and returns its offset and
// text; who names the receiver in a failure.
func recvOffset(t *testing.T, c *service.Conn, who string) (uint64, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := c.Recv(ctx)
	if err != nil {
		t.Fatalf("%s: Recv: %v", who, err)
	}
	pos, text, err := parseOffsetText(string(data))
	if err != nil {
		t.Fatalf("%s: %v", who, err)
	}
	return pos.Offset, text
}

// TestHistoryAcrossServers: two servers broadcast into one room at once;
// JetStream gives the messages consecutive offsets that every member, on
// either server, receives in the same order; a client that leaves one
// server comes back on the other from its last position and gets every
// message after it exactly once, those broadcast while it was away and
// then the live ones; and a position the history does not have is
// refused.
func TestHistoryAcrossServers(t *testing.T) {
	t.Parallel()
	url := natstest.StartJetStream(t, -1).URL()
	a, b := startHistoryNode(t, url), startHistoryNode(t, url)
	wa, wb := dial(t, a.base+"/?since=join"), dial(t, b.base+"/?since=join")
	roomOf := func(n *historyNode) *room.Room {
		var r *room.Room
		deadline := time.Now().Add(10 * time.Second)
		for r = n.hub.Room("h"); r == nil || r.Len() == 0; r = n.hub.Room("h") {
			if time.Now().After(deadline) {
				t.Fatal("no member joined")
			}
			time.Sleep(5 * time.Millisecond)
		}
		return r
	}
	ra, rb := roomOf(a), roomOf(b)

	const each = 300
	var wg sync.WaitGroup
	for name, r := range map[string]*room.Room{"a": ra, "b": rb} {
		wg.Go(func() {
			for i := range each {
				if err := r.Broadcast(protocol.Text, fmt.Appendf(nil, "%s%d", name, i)); err != nil {
					t.Errorf("%s: Broadcast: %v", name, err)
					return
				}
			}
		})
	}
	wg.Wait()
	// Both witnesses get offsets 1 to 600, the same message at each, and
	// each server's messages in the order it sent them.
	var seen [2][]string
	for i, w := range []*service.Conn{wa, wb} {
		next := map[byte]int{'a': 0, 'b': 0}
		for want := uint64(1); want <= 2*each; want++ {
			off, text := recvOffset(t, w, fmt.Sprintf("witness %d after offset %d", i, want-1))
			if off != want {
				t.Fatalf("witness %d: offset %d, want %d", i, off, want)
			}
			if text != fmt.Sprintf("%c%d", text[0], next[text[0]]) {
				t.Fatalf("witness %d: %q at %d out of its sender's order", i, text, off)
			}
			next[text[0]]++
			seen[i] = append(seen[i], text)
		}
	}
	for i := range seen[0] {
		if seen[0][i] != seen[1][i] {
			t.Fatalf("at offset %d: %q on a, %q on b", i+1, seen[0][i], seen[1][i])
		}
	}

	// A client reads on a, leaves; b goes on broadcasting; the client
	// comes back on b.
	c := dial(t, a.base+"/?since=join")
	wstest.WaitFor(t, 10*time.Second, "the client to join on a", func() bool { return ra.Len() == 2 })
	for i := range 10 {
		_ = ra.Broadcast(protocol.Text, fmt.Appendf(nil, "c%d", i))
	}
	var last uint64
	for range 10 {
		last, _ = recvOffset(t, c, "the client on a")
	}
	_ = c.Close(protocol.CloseNormal, "")
	<-c.Done()
	for i := range 50 {
		_ = rb.Broadcast(protocol.Text, fmt.Appendf(nil, "m%d", i))
	}
	epoch := rb.Position().Epoch
	back := dial(t, b.base+"/?since="+room.Position{Epoch: epoch, Offset: last}.String())
	for i := range 50 {
		_ = rb.Broadcast(protocol.Text, fmt.Appendf(nil, "n%d", i))
	}
	for want := last + 1; want <= last+100; want++ {
		if off, _ := recvOffset(t, back, fmt.Sprintf("the resumed client after offset %d", want-1)); off != want {
			t.Fatalf("resumed on the other server: offset %d, want %d", off, want)
		}
	}
	quiet(t, back, 200*time.Millisecond, "the resumed client")

	// Positions the history does not have.
	for _, tt := range []struct {
		from   room.Position
		reason string
	}{
		{room.Position{Epoch: "other", Offset: 3}, "another epoch"},
		{room.Position{Epoch: epoch, Offset: last + 1000}, "ahead of the room"},
	} {
		c := dial(t, b.base+"/?since="+tt.from.String())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _, err := c.Recv(ctx)
		cancel()
		code, reason := service.CloseStatus(err)
		if code != 4000 || !strings.Contains(reason, tt.reason) {
			t.Errorf("resume from %v: closed with %d %q, want 4000 and %q", tt.from, code, reason, tt.reason)
		}
	}
}

// TestHistoryWithoutJetStream: over a NATS server without JetStream, a
// room asked to keep a history carries messages as without one, and a
// resume is refused as "no history".
func TestHistoryWithoutJetStream(t *testing.T) {
	t.Parallel()
	url := startNATS(t, -1).URL()
	tr, err := natstransport.Connect(url, &testOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.KeepHistory(t.Context(), room.History{Size: 10}); !errors.Is(err, natstransport.ErrNoJetStream) || !errors.Is(err, room.ErrHistoryUnavailable) {
		t.Fatalf("KeepHistory without JetStream: %v, want ErrNoJetStream, matching room.ErrHistoryUnavailable", err)
	}
	r, err := room.New("plain", &room.Options{Transport: tr, History: &room.History{Size: 10}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	errc := make(chan error, 1)
	url2 := serve(t, &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		_, err := r.Resume(ctx, c, nil, room.Position{Epoch: "e", Offset: 1})
		errc <- err
		return nil
	})})
	dial(t, url2)
	var re *room.RecoveryError
	if err := <-errc; !errors.As(err, &re) || re.Reason != "no history" || !errors.Is(err, natstransport.ErrNoJetStream) {
		t.Fatalf("Resume: %v, want a RecoveryError for no history, for want of JetStream", err)
	}
	if err := r.Broadcast(protocol.Text, []byte("still carried")); err != nil {
		t.Fatal(err)
	}
}

// TestHistoryBoundsAndEpochs: over a history of 5 messages per room, a
// position whose next message is no longer kept is refused as aged out
// and one within the 5 is recovered on another server; a client that
// resumes at the newest message on a server that has delivered none of
// the room's messages yet gets what is sent to it alone at once; and when
// the history begins a new epoch (the stream purged), members that are
// live go on receiving the room's messages, while a position of the old
// epoch is refused.
func TestHistoryBoundsAndEpochs(t *testing.T) {
	t.Parallel()
	url := natstest.StartJetStream(t, -1).URL()
	small := func(tr *natstransport.Transport) (*room.Hub, error) {
		return room.NewHub(&room.Options{Transport: tr, History: &room.History{Size: 5, Encode: offsetText}})
	}
	// Each member is greeted with a message of its own, "0 - hello".
	greeting := func(hub *room.Hub) http.Handler { return greetingHandler(hub, "0 - hello") }
	a, b := startHistoryNodeWith(t, url, small, greeting), startHistoryNodeWith(t, url, small, greeting)
	live := dial(t, a.base+"/?since=join")
	if off, text := recvOffset(t, live, "the live member"); off != 0 || text != "hello" {
		t.Fatalf("the live member's first message: %d %q, want the greeting", off, text)
	}
	ra := a.hub.Room("h")
	for i := range 8 {
		if err := ra.Broadcast(protocol.Text, fmt.Appendf(nil, "x%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for want := uint64(1); want <= 8; want++ {
		if off, _ := recvOffset(t, live, "the live member"); off != want {
			t.Fatalf("the live member: offset %d, want %d", off, want)
		}
	}
	old := ra.Position()
	refused := func(base string, from room.Position, reason string) {
		t.Helper()
		c := dial(t, base+"/?since="+from.String())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _, err := c.Recv(ctx)
		if code, why := service.CloseStatus(err); code != 4000 || !strings.Contains(why, reason) {
			t.Errorf("resume from %v: closed with %d %q, want 4000 and %q", from, code, why, reason)
		}
	}
	// Offsets 4 to 8 are kept: from 3 is recovered, from 2 is not.
	refused(b.base, room.Position{Epoch: old.Epoch, Offset: 2}, "aged out")
	back := dial(t, b.base+"/?since="+room.Position{Epoch: old.Epoch, Offset: 3}.String())
	var got []uint64
	for range 6 {
		off, _ := recvOffset(t, back, "the client resumed from 3")
		got = append(got, off)
	}
	if diff := cmp.Diff([]uint64{4, 5, 6, 7, 8, 0}, got); diff != "" {
		t.Errorf("resumed from 3, offsets (-want +got):\n%s", diff)
	}

	// A server that has delivered nothing of the room: its member, at
	// the newest message, is greeted without waiting for a broadcast.
	c := startHistoryNodeWith(t, url, small, greeting)
	atHead := dial(t, c.base+"/?since="+old.String())
	if off, text := recvOffset(t, atHead, "the client at the newest message"); off != 0 || text != "hello" {
		t.Fatalf("the client at the newest message: %d %q, want the greeting", off, text)
	}
	if err := ra.Broadcast(protocol.Text, []byte("x8")); err != nil {
		t.Fatal(err)
	}
	for who, w := range map[string]*service.Conn{"live": live, "resumed from 3": back, "at the newest": atHead} {
		if off, text := recvOffset(t, w, who); off != 9 || text != "x8" {
			t.Fatalf("%s: %d %q, want 9 \"x8\"", who, off, text)
		}
	}
	quiet(t, atHead, 100*time.Millisecond, "the client at the newest message")

	// The history begins again: the live members get the new epoch's
	// messages from offset 1.
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, "WSMAP_HISTORY")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := ra.Broadcast(protocol.Text, fmt.Appendf(nil, "y%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for who, w := range map[string]*service.Conn{"live": live, "resumed from 3": back, "at the newest": atHead} {
		for want := uint64(1); want <= 3; want++ {
			off, text := recvOffset(t, w, who+" in the new epoch")
			if off != want || text != fmt.Sprintf("y%d", want-1) {
				t.Fatalf("%s in the new epoch: %d %q, want %d \"y%d\"", who, off, text, want, want-1)
			}
		}
	}
	if ra.Position().Epoch == old.Epoch {
		t.Fatalf("the epoch is still %s after the purge", old.Epoch)
	}
	refused(b.base, old, "another epoch")
}

// TestHistorySendAfterBroadcast: a broadcast comes back from JetStream
// to the process that made it after Append returns; a message the
// broadcaster then sends a member alone (Member.Send) still reaches it
// after the broadcast, and before the next one.
func TestHistorySendAfterBroadcast(t *testing.T) {
	t.Parallel()
	url := natstest.StartJetStream(t, -1).URL()
	members := make(chan *room.Member, 1)
	n := startHistoryNodeWith(t, url, newHistoryHub, func(hub *room.Hub) http.Handler {
		return &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
			m, err := hub.Join(ctx, "h", c, nil)
			if err != nil {
				return err
			}
			defer m.Leave()
			members <- m
			_, _, err = c.Recv(ctx)
			return err
		})}
	})
	c := dial(t, n.base+"/")
	m := <-members
	const rounds = 20
	var want, got []string
	for i := range rounds {
		if err := m.Room().Broadcast(protocol.Text, fmt.Appendf(nil, "broadcast %d", i)); err != nil {
			t.Fatal(err)
		}
		if err := m.Send(protocol.Text, fmt.Appendf(nil, "send %d", i)); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("broadcast %d", i), fmt.Sprintf("send %d", i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 2 * rounds {
		_, data, err := c.Recv(ctx)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		text := string(data)
		if _, broadcast, err := parseOffsetText(text); err == nil {
			text = broadcast // a broadcast, less its position
		}
		got = append(got, text)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the member's messages (-want +got):\n%s", diff)
	}
}
