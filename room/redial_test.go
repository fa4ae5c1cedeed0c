package room_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/service"
	"github.com/wsmap/wsmap/wsmaptest"
)

// resumeHub is the hub of docs/rooms.md's resume example: each message
// carries its position.
func resumeHub(t *testing.T) *room.Hub {
	t.Helper()
	hub, err := room.NewHub(&room.Options{History: &room.History{
		Size:   1000,
		MaxAge: 5 * time.Minute,
		Encode: func(pos room.Position, from room.MemberInfo, typ protocol.MessageType, data []byte) (protocol.MessageType, []byte) {
			b, _ := json.Marshal(map[string]string{"pos": pos.String(), "text": string(data)})
			return protocol.Text, b
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return hub
}

// resumeChat is docs/rooms.md's resume example as written, with what it
// leaves out ("...") filled in as examples/chat does: the nick from the
// query, and what the member says broadcast.
func resumeChat(hub *room.Hub) service.HandlerFunc {
	return func(ctx context.Context, c *service.Conn) error {
		var m *room.Member
		var err error
		if since := c.Request().URL.Query().Get("since"); since != "" {
			pos, perr := room.ParsePosition(since)
			if perr != nil {
				return &service.CloseError{Code: 4400, Reason: perr.Error()}
			}
			m, err = hub.Resume(ctx, "lobby", c, nil, pos)
		}
		if m == nil && (err == nil || errors.Is(err, room.ErrUnrecoverable)) {
			// New, or too late to catch up: join afresh (and tell the
			// client to reload what it shows).
			m, err = hub.Join(ctx, "lobby", c, nil)
		}
		if err != nil {
			return err
		}
		defer m.Leave()
		nick := c.Request().URL.Query().Get("nick")
		for {
			_, data, err := c.Recv(ctx)
			if err != nil {
				return err
			}
			if err := m.Room().Broadcast(protocol.Text, append([]byte(nick+": "), data...)); err != nil {
				return err
			}
		}
	}
}

// resumingClient is docs/rooms.md's client: a Redialer whose every
// attempt gives the position of the last message it handled as ?since=.
type resumingClient struct {
	r      *service.Redialer
	handle time.Duration // how long handling a message takes

	last string   // the position of the last message handled
	got  []string // the texts handled
}

func dialResuming(ctx context.Context, s *wsmaptest.Server, handle time.Duration) *resumingClient {
	cl := &resumingClient{handle: handle}
	cl.r = service.Redial(ctx, s.URL+"/chat?nick=ann", &service.RedialOptions{
		Dial:       s.DialOptions(),
		MinBackoff: 100 * time.Millisecond,
		MaxBackoff: time.Second,
		// Each attempt resumes from the last message handled.
		BeforeDial: func(ctx context.Context, u *url.URL, h http.Header) error {
			if cl.last != "" {
				q := u.Query()
				q.Set("since", cl.last)
				u.RawQuery = q.Encode()
			}
			return nil
		},
		StopCodes: []protocol.CloseCode{4400}, // a position the server cannot read
	})
	return cl
}

// read handles n messages.
func (cl *resumingClient) read(t *testing.T, n int) {
	t.Helper()
	for range n {
		_, data, err := cl.r.Recv(t.Context())
		if err != nil {
			t.Fatalf("after %q: %v", cl.got, err)
		}
		var msg struct{ Pos, Text string }
		if err := json.Unmarshal(data, &msg); err != nil {
			t.Fatalf("message %q: %v", data, err)
		}
		time.Sleep(cl.handle)
		cl.last = msg.Pos
		cl.got = append(cl.got, msg.Text)
	}
}

// TestRedialResumesARoom: a client of docs/rooms.md's resume example,
// through service.Redial with BeforeDial, loses its connection in the
// middle of the room's messages and comes back with ?since= the last
// message it handled: it gets every message once, in order, those sent
// while it was away included. A message its connection received before
// it ended, and that it had not read yet, comes from that connection, and
// the next attempt waits for it to be handled. It runs in memory, on a
// synctest bubble's clock.
func TestRedialResumesARoom(t *testing.T) {
	t.Parallel()
	closeWith := func(code protocol.CloseCode) func(*wsmaptest.Server, *service.Conn) {
		return func(_ *wsmaptest.Server, c *service.Conn) {
			_ = c.Close(code, "restarting")
		}
	}
	tests := []struct {
		name   string
		handle time.Duration // the time the client takes per message
		unread int           // messages received but not read when the connection is lost
		lose   func(s *wsmaptest.Server, c *service.Conn)
	}{
		{"the server closes it", 0, 1, closeWith(protocol.CloseGoingAway)},
		// Longer than the wait before the next attempt.
		{"the server closes it while the client is busy", time.Second, 1, closeWith(protocol.CloseServiceRestart)},
		{"the handler fails", 0, 1, func(_ *wsmaptest.Server, c *service.Conn) {
			c.CloseWithError(errors.New("out of memory"))
		}},
		// What is sent meanwhile is lost on the way; keepalive ends the
		// connection.
		{"the network drops it", 0, 0, func(s *wsmaptest.Server, _ *service.Conn) { s.Cut() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				hub := resumeHub(t)
				var mu sync.Mutex
				var queries []url.Values // each handshake's
				conns := make(chan *service.Conn, 10)
				chat := resumeChat(hub)
				s := wsmaptest.NewServer(t, &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
					mu.Lock()
					queries = append(queries, c.Request().URL.Query())
					mu.Unlock()
					conns <- c
					return chat(ctx, c)
				})})
				cl := dialResuming(t.Context(), s, tt.handle)
				defer cl.r.Close()
				first := <-conns
				synctest.Wait() // joined
				lobby := hub.Room("lobby")
				say := func(from, to int) {
					for i := from; i <= to; i++ {
						if err := lobby.Broadcast(protocol.Text, []byte(strconv.Itoa(i))); err != nil {
							t.Fatal(err)
						}
					}
					synctest.Wait() // delivered
				}

				say(1, 3)
				cl.read(t, 3-tt.unread)
				tt.lose(s, first)
				synctest.Wait()
				say(4, 6) // while the client is away, or before it knows
				cl.read(t, 3+tt.unread)
				say(7, 7)
				cl.read(t, 1)

				want := []string{"1", "2", "3", "4", "5", "6", "7"}
				if diff := cmp.Diff(want, cl.got); diff != "" {
					t.Errorf("texts handled (-want +got):\n%s", diff)
				}
				mu.Lock()
				defer mu.Unlock()
				since := room.Position{Epoch: lobby.Position().Epoch, Offset: 3}.String()
				wantQueries := []url.Values{{"nick": {"ann"}}, {"nick": {"ann"}, "since": {since}}}
				if diff := cmp.Diff(wantQueries, queries); diff != "" {
					t.Errorf("handshakes' queries (-want +got):\n%s", diff)
				}
				if err := cl.r.Close(); err != nil {
					t.Error(err)
				}
			})
		})
	}
}
