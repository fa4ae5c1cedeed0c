package room_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/room/internal/roomtest"
	"github.com/wsmap/wsmap/service"
)

// offsetEncode makes each broadcast the text of its offset, so that a
// client can tell every message's position.
func offsetEncode(pos room.Position, _ room.MemberInfo, _ protocol.MessageType, _ []byte) (protocol.MessageType, []byte) {
	return protocol.Text, []byte(strconv.FormatUint(pos.Offset, 10))
}

// resumeHandler joins r, or resumes from the position in the "since"
// query parameter, and closes with 4000 and the error if that fails; it
// then holds the connection until the client leaves.
func resumeHandler(r *room.Room) http.Handler {
	return &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		var m *room.Member
		var err error
		if since := c.Request().URL.Query().Get("since"); since != "" {
			var pos room.Position
			if pos, err = room.ParsePosition(since); err == nil {
				m, err = r.Resume(ctx, c, nil, pos)
			}
		} else {
			m, err = r.Join(c, nil)
		}
		if err != nil {
			return &service.CloseError{Code: 4000, Reason: err.Error()}
		}
		defer m.Leave()
		for {
			if _, _, err := c.Recv(ctx); err != nil {
				return err
			}
		}
	})}
}

// recvOffset receives a message and returns the offset it holds.
func recvOffset(t *testing.T, c *service.Conn) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := c.Recv(ctx)
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	n, err := strconv.ParseUint(string(data), 10, 64)
	if err != nil {
		t.Fatalf("message %q is not an offset", data)
	}
	return n
}

// TestResumeGetsExactlyWhatItMissed: a member reads part of the room's
// messages and leaves; while the room goes on broadcasting as fast as it
// can, the client comes back from the last position it saw, and gets
// every message after it exactly once and in order, those from the
// history and then the live ones, up to the room's last.
func TestResumeGetsExactlyWhatItMissed(t *testing.T) {
	t.Parallel()
	r, err := room.New("resume", &room.Options{QueueSize: 1 << 16, History: &room.History{Size: 1 << 16, Encode: offsetEncode}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	url := serve(t, resumeHandler(r))
	// A witness stays in the room throughout, so that broadcasts are
	// queued on the shard the resumed member joins when it goes live.
	witness := dial(t, url)
	first := dial(t, url)
	waitMembers(t, r, 2)

	var sent atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // broadcasts until told to stop, at most 30,000
		defer close(done)
		for i := 0; i < 30_000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// Let the readers run between broadcasts: a room that
			// outruns its readers for long drops them.
			runtime.Gosched()
			if err := r.Broadcast(protocol.Text, nil); err != nil {
				t.Error(err)
				return
			}
			sent.Add(1)
		}
	}()

	var last uint64
	for last < 500 {
		got := recvOffset(t, first)
		if got != last+1 {
			close(stop)
			t.Fatalf("first connection: offset %d after %d", got, last)
		}
		last = got
	}
	_ = first.Close(protocol.CloseNormal, "")
	<-first.Done()

	// Let the room talk on for a while: the client has missed that much.
	for deadline := time.Now().Add(10 * time.Second); sent.Load() < last+300; {
		if time.Now().After(deadline) {
			close(stop)
			t.Fatal("the room stopped broadcasting")
		}
		time.Sleep(time.Millisecond)
	}
	epoch := r.Position().Epoch
	again := dial(t, url+"?since="+room.Position{Epoch: epoch, Offset: last}.String())
	atResume := sent.Load()
	// Read on until well past the messages broadcast before the resume,
	// so that the history and the live messages meet while the room is
	// broadcasting, then stop the broadcasts and read to the end.
	next := last + 1
	check := func() {
		t.Helper()
		if got := recvOffset(t, again); got != next {
			t.Fatalf("resumed connection: offset %d, want %d (resumed after %d, the room at about %d)", got, next, last, atResume)
		}
		next++
	}
	func() {
		defer func() { close(stop); <-done }()
		for next <= atResume+2000 {
			check()
		}
	}()
	for final := r.Position().Offset; next <= final; {
		check()
	}
	// The witness's queue holds all of them: it reads them at the end.
	for want, final := uint64(1), r.Position().Offset; want <= final; want++ {
		if got := recvOffset(t, witness); got != want {
			t.Fatalf("the witness got offset %d, want %d", got, want)
		}
	}
}

// TestResumeUnrecoverable: each way a position cannot be recovered is
// reported, with its reason, and adds no member.
func TestResumeUnrecoverable(t *testing.T) {
	t.Parallel()
	noHistory, err := room.New("plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer noHistory.Close()
	small, err := room.New("small", &room.Options{History: &room.History{Size: 10}})
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	brief, err := room.New("brief", &room.Options{History: &room.History{Size: 100, MaxAge: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer brief.Close()
	for range 20 {
		_ = noHistory.Broadcast(protocol.Text, []byte("m"))
		_ = small.Broadcast(protocol.Text, []byte("m"))
		_ = brief.Broadcast(protocol.Text, []byte("m"))
	}
	time.Sleep(100 * time.Millisecond) // brief's messages age out

	epoch := small.Position().Epoch
	tests := []struct {
		name   string
		r      *room.Room
		from   room.Position
		reason string
	}{
		{"no history", noHistory, room.Position{Epoch: "e", Offset: 3}, "no history"},
		{"another epoch", small, room.Position{Epoch: "other", Offset: 15}, "another epoch"},
		{"the zero position", small, room.Position{}, "another epoch"},
		{"beyond the size", small, room.Position{Epoch: epoch, Offset: 5}, "aged out"},
		{"just beyond the size", small, room.Position{Epoch: epoch, Offset: 9}, "aged out"},
		{"ahead of the room", small, room.Position{Epoch: epoch, Offset: 21}, "ahead of the room"},
		{"past the age", brief, room.Position{Epoch: brief.Position().Epoch, Offset: 19}, "aged out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := resumeErr(t, tt.r, tt.from)
			var re *room.RecoveryError
			if !errors.Is(err, room.ErrUnrecoverable) || !errors.As(err, &re) {
				t.Fatalf("Resume from %v: %v, want a *RecoveryError", tt.from, err)
			}
			want := room.RecoveryError{Room: tt.r.Name(), Position: tt.from, Current: tt.r.Position(), Reason: tt.reason}
			if diff := cmp.Diff(want, *re); diff != "" {
				t.Errorf("Resume from %v (-want +got):\n%s", tt.from, diff)
			}
		})
	}
	if n := small.Len() + noHistory.Len() + brief.Len(); n != 0 {
		t.Errorf("%d members were added by refused resumes", n)
	}
}

// resumeErr resumes a connection in r from from and returns Resume's
// error; a member it adds leaves at once.
func resumeErr(t *testing.T, r *room.Room, from room.Position) error {
	t.Helper()
	errc := make(chan error, 1)
	url := serve(t, &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		m, err := r.Resume(ctx, c, nil, from)
		if m != nil {
			m.Leave()
		}
		errc <- err
		return nil
	})})
	dial(t, url)
	select {
	case err := <-errc:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no Resume")
		return nil
	}
}

// TestResumeRefusalOnTheWire: a client whose position cannot be
// recovered is told why in the close (the handler's choice here).
func TestResumeRefusalOnTheWire(t *testing.T) {
	t.Parallel()
	r, err := room.New("wire", &room.Options{History: &room.History{Size: 4}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for range 10 {
		_ = r.Broadcast(protocol.Text, []byte("m"))
	}
	c := dial(t, serve(t, resumeHandler(r))+"?since="+room.Position{Epoch: r.Position().Epoch, Offset: 2}.String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err = c.Recv(ctx)
	code, reason := service.CloseStatus(err)
	if code != 4000 || !strings.Contains(reason, "aged out") {
		t.Fatalf("closed with %d %q, want 4000 and a reason saying the position aged out", code, reason)
	}
}

// TestHubKeepsRoomsWithHistory: a hub keeps an empty room that has a
// history, so that its last member can come back to it, and forgets it
// once its newest message is History.MaxAge old.
func TestHubKeepsRoomsWithHistory(t *testing.T) {
	t.Parallel()
	hub := roomtest.NewHub(t, &room.Options{History: &room.History{Size: 100, MaxAge: 2 * time.Second, Encode: offsetEncode}})
	joined := make(chan *room.Member, 1)
	url := serve(t, &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		var m *room.Member
		var err error
		if since := c.Request().URL.Query().Get("since"); since != "" {
			pos, perr := room.ParsePosition(since)
			if perr != nil {
				return perr
			}
			m, err = hub.Resume(ctx, "h", c, nil, pos)
		} else {
			m, err = hub.Join(ctx, "h", c, nil)
		}
		if err != nil {
			return &service.CloseError{Code: 4000, Reason: err.Error()}
		}
		defer m.Leave()
		joined <- m
		_, _, err = c.Recv(ctx)
		return err
	})})
	c := dial(t, url)
	m := <-joined
	for range 3 {
		_ = m.Room().Broadcast(protocol.Text, nil)
	}
	if got := recvOffset(t, c); got != 1 {
		t.Fatalf("first message at offset %d", got)
	}
	pos := room.Position{Epoch: m.Room().Position().Epoch, Offset: 1}
	_ = c.Close(protocol.CloseNormal, "")
	<-c.Done()
	waitMembers(t, m.Room(), 0)
	if hub.Room("h") != m.Room() {
		t.Fatal("the hub forgot the room with its last member, before its history aged out")
	}
	c = dial(t, url+"?since="+pos.String())
	for want := uint64(2); want <= 3; want++ {
		if got := recvOffset(t, c); got != want {
			t.Fatalf("resumed: offset %d, want %d", got, want)
		}
	}
	_ = c.Close(protocol.CloseNormal, "")
	<-c.Done()
	deadline := time.Now().Add(10 * time.Second)
	for hub.Room("h") != nil {
		if time.Now().After(deadline) {
			t.Fatal("the hub still holds the room 10s after its history aged out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitMembers waits until r has n local members.
func waitMembers(t *testing.T, r *room.Room, n int) {
	t.Helper()
	wstest.WaitFor(t, 10*time.Second, fmt.Sprintf("%d members", n), func() bool { return r.Len() == n })
}

func TestParsePosition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want room.Position
		ok   bool
	}{
		{"f3a2c1d0e9b8a7f6:42", room.Position{Epoch: "f3a2c1d0e9b8a7f6", Offset: 42}, true},
		{"e:0", room.Position{Epoch: "e"}, true},
		{"A-b_9:18446744073709551615", room.Position{Epoch: "A-b_9", Offset: 1<<64 - 1}, true},
		{"e:18446744073709551616", room.Position{}, false},
		{":1", room.Position{}, false},
		{"e:", room.Position{}, false},
		{"e", room.Position{}, false},
		{"e:+1", room.Position{}, false},
		{"e:-1", room.Position{}, false},
		{"e:1:2", room.Position{}, false},
		{"e f:1", room.Position{}, false},
		{"é:1", room.Position{}, false},
		{strings.Repeat("e", 64) + ":1", room.Position{Epoch: strings.Repeat("e", 64), Offset: 1}, true},
		{strings.Repeat("e", 65) + ":1", room.Position{}, false},
	}
	for _, tt := range tests {
		got, err := room.ParsePosition(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParsePosition(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if err == nil && got.String() != tt.in {
			t.Errorf("ParsePosition(%q).String() = %q", tt.in, got.String())
		}
	}
}

func FuzzParsePosition(f *testing.F) {
	for _, s := range []string{"f3a2c1d0e9b8a7f6:42", "e:0", ":", "e:+1", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := room.ParsePosition(s)
		if err != nil {
			return
		}
		again, err := room.ParsePosition(p.String())
		if err != nil || again != p {
			t.Fatalf("ParsePosition(%q) = %v, whose wire form %q reads back as %v, %v", s, p, p.String(), again, err)
		}
	})
}

// TestHubForgetsRoomMadeForRefusedResume: a resume into a room the hub
// does not hold is refused as of another epoch, and leaves no empty room
// behind.
func TestHubForgetsRoomMadeForRefusedResume(t *testing.T) {
	t.Parallel()
	hub := roomtest.NewHub(t, &room.Options{History: &room.History{Size: 10}})
	errc := make(chan error, 1)
	url := serve(t, &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		_, err := hub.Resume(ctx, "gone", c, nil, room.Position{Epoch: "old", Offset: 7})
		errc <- err
		return nil
	})})
	dial(t, url)
	var re *room.RecoveryError
	if err := <-errc; !errors.As(err, &re) || re.Reason != "another epoch" {
		t.Fatalf("Resume into a new room: %v, want a RecoveryError for another epoch", err)
	}
	if names := hub.Rooms(); len(names) != 0 {
		t.Errorf("the hub holds %q after the refused resume", names)
	}
}

// TestResumeOvertaken: a member that catches up more slowly than the
// room talks, so that the history drops its next message before it is
// written, is dropped as too slow, having received an unbroken run of
// the messages from its position on.
func TestResumeOvertaken(t *testing.T) {
	t.Parallel()
	const size, kept = 64 << 10, 200
	// Each message is its offset, padded to 64 KiB: the history holds
	// more than the sockets' buffers, so that the catching-up member's
	// writes wait for its client, which does not read at first.
	pad := strings.Repeat("x", size-20)
	r, err := room.New("overtaken", &room.Options{History: &room.History{Size: kept,
		Encode: func(pos room.Position, _ room.MemberInfo, _ protocol.MessageType, _ []byte) (protocol.MessageType, []byte) {
			return protocol.Binary, []byte(fmt.Sprintf("%020d", pos.Offset) + pad)
		}}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for range kept {
		_ = r.Broadcast(protocol.Binary, nil)
	}
	h := resumeHandler(r).(*service.Endpoint)
	// The member's writer waits on a client that does not read while the
	// room talks 400 messages past it. On a loaded machine that can take
	// longer than the default write timeout (10s), which then ends the
	// connection without a close frame: the client reads what the socket
	// held (60 messages) and then EOF, as it does here with a 20ms write
	// timeout. The timeout is made longer than the test waits.
	h.Options = &service.Options{WriteTimeout: 2 * time.Minute}
	url := serve(t, h)
	c, err := wstest.Dial(strings.TrimPrefix(url, "ws://"), "/?since="+room.Position{Epoch: r.Position().Epoch}.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitMembers(t, r, 1)
	// While the member's writer waits on its socket, the room talks
	// past everything the history held.
	for range 2 * kept {
		_ = r.Broadcast(protocol.Binary, nil)
	}
	want := uint64(1)
	for {
		_, data, err := c.ReadMessage(10 * time.Second)
		var cr *wstest.CloseReceived
		if errors.As(err, &cr) {
			if code := cr.Frame.CloseCode(); code != int(room.TooSlowCode) || cr.Frame.CloseReason() != room.TooSlowReason {
				t.Fatalf("closed with %d %q, want %d %q", code, cr.Frame.CloseReason(), room.TooSlowCode, room.TooSlowReason)
			}
			break
		}
		if err != nil {
			t.Fatalf("after offset %d: %v", want-1, err)
		}
		if got, _ := strconv.ParseUint(string(data[:20]), 10, 64); got != want {
			t.Fatalf("offset %d, want %d", got, want)
		}
		want++
	}
	if want-1 >= 3*kept {
		t.Fatalf("received all %d messages: the member was never overtaken", want-1)
	}
	if r.Len() != 0 {
		t.Errorf("the room still has %d members", r.Len())
	}
}

// TestSendWhileCatchingUp: a message sent to a member alone while it
// catches up does not interrupt the history: it arrives once the member
// has caught up.
func TestSendWhileCatchingUp(t *testing.T) {
	t.Parallel()
	r, url, joined := catchingUp(t, func(m *room.Member) error { return m.Send(protocol.Text, []byte("direct")) })
	c := dial(t, url)
	<-joined
	_ = r.Broadcast(protocol.Text, nil) // live: offset 51
	var got []string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(got) < 42 {
		_, data, err := c.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(data))
	}
	// The room's messages, once each and in order, with the direct one
	// after every message broadcast before it was sent: 51 may come
	// before or after it, from the history if the member was still
	// catching up when it was broadcast.
	var offsets []string
	direct := -1
	for i, m := range got {
		if m == "direct" {
			direct = i
			continue
		}
		offsets = append(offsets, m)
	}
	var want []string
	for i := 11; i <= 51; i++ {
		want = append(want, strconv.Itoa(i))
	}
	if diff := cmp.Diff(want, offsets); diff != "" {
		t.Errorf("room messages (-want +got):\n%s", diff)
	}
	if direct < 40 {
		t.Errorf("the direct message came at %d, before the history it was sent after: %q", direct, got)
	}
}

// TestBroadcastFromWhileCatchingUp: what a member broadcasts with
// BroadcastFrom while it catches up reaches the others, and not the
// member itself, though it takes its place in the history the member is
// reading.
func TestBroadcastFromWhileCatchingUp(t *testing.T) {
	t.Parallel()
	var r *room.Room
	r, url, joined := catchingUp(t, func(m *room.Member) error { return r.BroadcastFrom(m, protocol.Text, nil) }) // offset 51
	other := dial(t, serve(t, resumeHandler(r)))
	waitMembers(t, r, 1)
	c := dial(t, url)
	<-joined
	_ = r.Broadcast(protocol.Text, nil) // offset 52
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	read := func(c *service.Conn, n int) []string {
		var got []string
		for range n {
			_, data, err := c.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(data))
		}
		return got
	}
	var want []string
	for i := 11; i <= 50; i++ {
		want = append(want, strconv.Itoa(i))
	}
	want = append(want, "52")
	if diff := cmp.Diff(want, read(c, 41)); diff != "" {
		t.Errorf("the member catching up (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"51", "52"}, read(other, 2)); diff != "" {
		t.Errorf("the other member (-want +got):\n%s", diff)
	}
}

// catchingUp returns a room with a history of 100 messages that has
// broadcast 50 (offsetEncode gives each its offset), and the URL of a
// server that resumes each client in it from offset 10 and then, while
// the member catches up, calls then and closes joined.
func catchingUp(t *testing.T, then func(*room.Member) error) (*room.Room, string, chan struct{}) {
	t.Helper()
	r, err := room.New("catching-up", &room.Options{History: &room.History{Size: 100, Encode: offsetEncode}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	for range 50 {
		_ = r.Broadcast(protocol.Text, nil)
	}
	joined := make(chan struct{})
	url := serve(t, &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		m, err := r.Resume(ctx, c, nil, room.Position{Epoch: r.Position().Epoch, Offset: 10})
		if err != nil {
			return err
		}
		defer m.Leave()
		if err := then(m); err != nil {
			return err
		}
		close(joined)
		_, _, err = c.Recv(ctx)
		return err
	})})
	return r, url, joined
}
