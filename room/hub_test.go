package room_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/room/internal/roomtest"
	"github.com/wsmap/wsmap/service"
)

// positionEncode makes each broadcast the wire form of its position.
func positionEncode(pos room.Position, _ room.MemberInfo, _ protocol.MessageType, _ []byte) (protocol.MessageType, []byte) {
	return protocol.Text, []byte(pos.String())
}

// hubRoom is what a hub holds of the room "r" when a client asks to
// resume in it.
type hubRoom int

const (
	noRoom        hubRoom = iota // the room was never made
	heldRoom                     // a member is in it, and it has had 3 messages
	forgottenRoom                // it had 3 messages, then its member left and it aged out
)

// TestHubResumeRefusedCurrent: the Current of a refused Hub.Resume is
// where a client that then joins afresh starts: its first message is the
// one after Current, in Current's epoch; or, when the hub holds no room
// to name, Current is the zero Position and the client starts a new
// epoch at offset 1.
func TestHubResumeRefusedCurrent(t *testing.T) {
	t.Parallel()
	history := func(maxAge time.Duration) *room.Options {
		return &room.Options{History: &room.History{Size: 2, MaxAge: maxAge, Encode: positionEncode}}
	}
	other := func(room.Position) room.Position { return room.Position{Epoch: "old", Offset: 7} }
	tests := []struct {
		name   string
		opts   *room.Options
		before hubRoom
		from   func(last room.Position) room.Position // last: the room's newest position, if it was made
		reason string
	}{
		{"a room never made", history(0), noRoom, other, "another epoch"},
		{"the zero position in a room never made", history(0), noRoom, func(room.Position) room.Position { return room.Position{} }, "another epoch"},
		{"a forgotten room", history(50 * time.Millisecond), forgottenRoom, func(last room.Position) room.Position { return last }, "another epoch"},
		{"a room never made, without history", nil, noRoom, other, "no history"},
		{"a held room without history", nil, heldRoom, other, "no history"},
		{"another epoch of a held room", history(0), heldRoom, other, "another epoch"},
		{"ahead of a held room", history(0), heldRoom, func(last room.Position) room.Position {
			return room.Position{Epoch: last.Epoch, Offset: last.Offset + 5}
		}, "ahead of the room"},
		{"aged out of a held room", history(0), heldRoom, func(last room.Position) room.Position { return room.Position{Epoch: last.Epoch} }, "aged out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hub := roomtest.NewHub(t, tt.opts)
			type result struct {
				err error // Resume's
				m   *room.Member
			}
			resumes := make(chan room.Position, 1)
			results := make(chan result, 1)
			// A client with ?resume resumes from the position sent on
			// resumes and, refused, joins afresh; others join.
			url := serve(t, &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
				var err error
				if c.Request().URL.Query().Has("resume") {
					var m *room.Member
					if m, err = hub.Resume(ctx, "r", c, nil, <-resumes); m != nil {
						m.Leave()
					}
				}
				m, jerr := hub.Join(ctx, "r", c, nil)
				if jerr != nil {
					return jerr
				}
				defer m.Leave()
				results <- result{err, m}
				_, _, err = c.Recv(ctx)
				return err
			})})

			var last, current room.Position // current: the Current wanted
			if tt.before != noRoom {
				first := dial(t, url)
				r := (<-results).m.Room()
				for range 3 {
					if err := r.Broadcast(protocol.Text, []byte("m")); err != nil {
						t.Fatal(err)
					}
				}
				last = r.Position()
				if tt.before == heldRoom {
					current = last
				} else {
					_ = first.Close(protocol.CloseNormal, "")
					wstest.WaitFor(t, 10*time.Second, "the hub to forget the room", func() bool { return hub.Room("r") == nil })
				}
			}

			from := tt.from(last)
			resumes <- from
			c := dial(t, url+"/?resume")
			res := <-results
			var re *room.RecoveryError
			if !errors.Is(res.err, room.ErrUnrecoverable) || !errors.As(res.err, &re) {
				t.Fatalf("Resume from %v: %v, want a *RecoveryError", from, res.err)
			}
			want := room.RecoveryError{Room: "r", Position: from, Current: current, Reason: tt.reason}
			if diff := cmp.Diff(want, *re); diff != "" {
				t.Errorf("Resume from %v (-want +got):\n%s", from, diff)
			}
			if named := strings.Contains(re.Error(), "the room is at"); named != (current != room.Position{}) {
				t.Errorf("the error %q names where the room is: %v, want %v", re, named, !named)
			}
			if tt.opts == nil {
				return // the messages carry no position
			}

			// The client that joined afresh gets the room's next message
			// at the position after Current.
			if err := res.m.Room().Broadcast(protocol.Text, []byte("m")); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, data, err := c.Recv(ctx)
			if err != nil {
				t.Fatalf("Recv: %v", err)
			}
			got, err := room.ParsePosition(string(data))
			if err != nil {
				t.Fatal(err)
			}
			if re.Current == (room.Position{}) {
				if got.Offset != 1 || got.Epoch == last.Epoch {
					t.Errorf("after a refusal naming no position, the fresh member's first message is at %v, want offset 1 of a new epoch", got)
				}
			} else if next := (room.Position{Epoch: re.Current.Epoch, Offset: re.Current.Offset + 1}); got != next {
				t.Errorf("after a refusal naming %v, the fresh member's first message is at %v, want %v", re.Current, got, next)
			}
		})
	}
}

// TestHubJoinAfterRoomClose: a room of the hub's closed with Room.Close
// is replaced by a new one at the next Join.
func TestHubJoinAfterRoomClose(t *testing.T) {
	t.Parallel()
	hub := roomtest.NewHub(t, nil)
	joined := make(chan *room.Member, 1)
	url := serve(t, &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		m, err := hub.Join(ctx, "r", c, nil)
		if err != nil {
			return err
		}
		defer m.Leave()
		joined <- m
		_, _, err = c.Recv(ctx)
		return err
	})})
	dial(t, url)
	closed := (<-joined).Room()
	closed.Close()
	dial(t, url)
	select {
	case m := <-joined:
		if m.Room() == closed || hub.Room("r") != m.Room() {
			t.Errorf("joined %p, the hub holds %p, the closed room is %p; want a new room, held", m.Room(), hub.Room("r"), closed)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Join into a closed room has not returned after 10s")
	}
}

// TestNewHubRefusesInvalidOptions: options that no room can be made with
// are refused by NewHub, as by New, before any room is made.
func TestNewHubRefusesInvalidOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts *room.Options
		want string // the error's text; "" for none
	}{
		{"nil", nil, ""},
		{"the zero options", &room.Options{}, ""},
		{"a History", &room.Options{History: &room.History{Size: 1}}, ""},
		{"a History over a HistoryTransport", &room.Options{Transport: &handTransport{}, History: &room.History{Size: 1}}, ""},
		{"a History of no size", &room.Options{History: &room.History{}},
			"room: invalid options: History.Size is 0, it must be positive"},
		{"a History of a negative size", &room.Options{QueueSize: 8, History: &room.History{Size: -1, MaxAge: time.Minute}},
			"room: invalid options: History.Size is -1, it must be positive"},
		{"a History over a Transport that keeps none", &room.Options{Transport: (&bus{}).transport(), History: &room.History{Size: 1}},
			"room: invalid options: History over a Transport needs a HistoryTransport, which *room_test.procTransport is not"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			check := func(what string, made bool, err error) {
				t.Helper()
				switch {
				case tt.want == "" && (err != nil || !made):
					t.Errorf("%s: %v", what, err)
				case tt.want != "" && (err == nil || made):
					t.Errorf("%s: made, want the error %q", what, tt.want)
				case tt.want != "" && (err.Error() != tt.want || !errors.Is(err, room.ErrInvalidOptions)):
					t.Errorf("%s: %q, want %q, matching ErrInvalidOptions", what, err, tt.want)
				}
			}
			hub, err := room.NewHub(tt.opts)
			check("NewHub", hub != nil, err)
			r, err := room.New("r", tt.opts)
			check("New", r != nil, err)
			if r != nil {
				r.Close()
			}
		})
	}
}

// TestHubCopiesItsOptions: what is done to the options after NewHub,
// History included, does not change the hub's rooms.
func TestHubCopiesItsOptions(t *testing.T) {
	t.Parallel()
	opts := &room.Options{History: &room.History{Size: 1}}
	hub := roomtest.NewHub(t, opts)
	opts.History.Size = 0
	errc := make(chan error, 1)
	dial(t, serve(t, &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		m, err := hub.Join(ctx, "r", c, nil)
		if m != nil {
			m.Leave()
		}
		errc <- err
		return nil
	})}))
	if err := <-errc; err != nil {
		t.Fatalf("Join after the options' History.Size was set to 0: %v", err)
	}
}

// gateTransport is a Transport whose Attach of room "a" waits until the
// test opens the gate, or its context ends; it carries nothing.
type gateTransport struct {
	attaching chan struct{} // told each time an Attach of "a" begins
	gate      chan struct{} // closed by the test to let them through
}

func (g *gateTransport) Attach(ctx context.Context, name string, _ func(room.Event)) (func(), error) {
	if name == "a" {
		g.attaching <- struct{}{}
		select {
		case <-g.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return func() {}, nil
}

func (g *gateTransport) Publish(context.Context, string, room.Event) error { return nil }

// TestHubMakesRoomsApart: a room whose making waits on its Transport
// holds up neither the Joins of other rooms nor the hub's other methods;
// the Joins of the same room wait for it as long as their context
// allows, and one of them makes it if its maker gives up.
func TestHubMakesRoomsApart(t *testing.T) {
	t.Parallel()
	tr := &gateTransport{attaching: make(chan struct{}, 10), gate: make(chan struct{})}
	hub := roomtest.NewHub(t, &room.Options{Transport: tr})
	type joined struct {
		name string // the client's
		m    *room.Member
		err  error
	}
	results := make(chan joined, 10)
	// ?room names the room, ?name the client, ?wait bounds the Join.
	url := serve(t, &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		q := c.Request().URL.Query()
		if wait, err := time.ParseDuration(q.Get("wait")); err == nil {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, wait)
			defer cancel()
		}
		m, err := hub.Join(ctx, q.Get("room"), c, nil)
		results <- joined{q.Get("name"), m, err}
		if err != nil {
			return nil // told above
		}
		defer m.Leave()
		_, _, err = c.Recv(c.Context())
		return err
	})})
	got := make(map[string]joined)
	// await returns what the Join of the client name returned, within d.
	await := func(name string, d time.Duration) joined {
		t.Helper()
		timeout := time.After(d)
		for {
			if j, ok := got[name]; ok {
				return j
			}
			select {
			case j := <-results:
				got[j.name] = j
			case <-timeout:
				t.Fatalf("%s's Join has not returned after %v", name, d)
			}
		}
	}
	attaching := func() {
		t.Helper()
		select {
		case <-tr.attaching:
		case <-time.After(10 * time.Second):
			t.Fatal("room a is not being made")
		}
	}

	// a1 makes room a, and gives up after 300ms; a2 waits for it
	// without bound, and makes it when a1 gives up. The gate stays
	// closed until the test opens it: till then, room a is being made.
	dial(t, url+"/?room=a&name=a1&wait=300ms")
	attaching()
	dial(t, url+"/?room=a&name=a2")
	// Meanwhile b is made and joined, a3 gives up on a after 50ms, and
	// the hub answers.
	start := time.Now()
	dial(t, url+"/?room=b&name=b1")
	if j := await("b1", 5*time.Second); j.err != nil {
		t.Fatalf("b1 joined b, while a is made, with %v", j.err)
	}
	dial(t, url+"/?room=a&name=a3&wait=50ms")
	if j := await("a3", 5*time.Second); !errors.Is(j.err, context.DeadlineExceeded) {
		t.Fatalf("a3 joined a, while it is made, with %v, want context.DeadlineExceeded", j.err)
	}
	if diff := cmp.Diff([]string{"b"}, hub.Rooms()); diff != "" {
		t.Errorf("the rooms while a is made (-want +got):\n%s", diff)
	}
	if hub.Room("a") != nil {
		t.Error("Room(a) is not nil while a is made")
	}
	t.Logf("b's Join, a3's and the hub's methods took %v while a was made", time.Since(start))
	if j := await("a1", 10*time.Second); !errors.Is(j.err, context.DeadlineExceeded) {
		t.Fatalf("a1 joined a with %v, want context.DeadlineExceeded", j.err)
	}
	attaching() // a2 makes it now (or a3 tried, with its ctx ended)
	close(tr.gate)
	j := await("a2", 10*time.Second)
	if j.err != nil {
		t.Fatalf("a2 joined a with %v", j.err)
	}
	dial(t, url+"/?room=a&name=a4&wait=10s")
	if j4 := await("a4", 10*time.Second); j4.err != nil || j4.m.Room() != j.m.Room() {
		t.Fatalf("a4 joined with %v, want a4 in a2's room, without error", j4.err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, hub.Rooms()); diff != "" {
		t.Errorf("the rooms at the end (-want +got):\n%s", diff)
	}
}
