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
					if m, err = hub.Resume("r", c, nil, <-resumes); m != nil {
						m.Leave()
					}
				}
				m, jerr := hub.Join("r", c, nil)
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
		m, err := hub.Join("r", c, nil)
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
		m, err := hub.Join("r", c, nil)
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
