package room_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/wsmap/wsmap/internal/servetest"
	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/room/internal/roomtest"
	"github.com/wsmap/wsmap/service"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(membersAddrEnv); addr != "" {
		n, _ := strconv.Atoi(os.Getenv(membersNEnv))
		os.Exit(runMembers(addr, n))
	}
	goleak.VerifyTestMain(m)
}

// serve starts h on loopback for the test; see servetest.Serve.
func serve(t testing.TB, h http.Handler) string { return servetest.Serve(t, h) }

// dial connects to url for the test; see servetest.Dial.
func dial(t testing.TB, url string) *service.Conn { return servetest.Dial(t, url, nil) }

// dialAll opens n connections, 50 at a time.
func dialAll(t *testing.T, n int, url func(i int) string) []*service.Conn {
	t.Helper()
	conns := make([]*service.Conn, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for i := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, _, err := service.Dial(ctx, url(i), nil)
			if err != nil {
				t.Errorf("Dial %d: %v", i, err)
				return
			}
			conns[i] = c
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Cleanup(func() {
		for _, c := range conns {
			go c.Close(protocol.CloseNormal, "")
		}
		for _, c := range conns {
			<-c.Done()
		}
	})
	return conns
}

func TestEveryMemberGetsEveryBroadcastOnceInOrder(t *testing.T) {
	wstest.Long(t)
	t.Parallel()
	const members, broadcasts = 1000, 100
	hub := roomtest.NewHub(t, &room.Options{QueueSize: broadcasts + 1})
	base := serve(t, roomtest.Member(hub, false))
	conns := dialAll(t, members, func(int) string { return base + "/" })
	wstest.WaitFor(t, 10*time.Second, "every member to join", func() bool { r := hub.Room("r"); return r != nil && r.Len() == members })

	var want []string
	for i := range broadcasts {
		want = append(want, fmt.Sprintf("m-%03d", i))
	}
	want = append(want, "end")
	r := hub.Room("r")
	for _, msg := range want {
		if err := r.Broadcast(protocol.Text, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var got []string
			for len(got) == 0 || got[len(got)-1] != "end" {
				_, data, err := c.Recv(ctx)
				if err != nil {
					t.Errorf("member %d after %d messages: %v", i, len(got), err)
					return
				}
				got = append(got, string(data))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("member %d (-want +got):\n%s", i, diff)
			}
		})
	}
	wg.Wait()
}

func TestBroadcastFromSkipsTheSender(t *testing.T) {
	t.Parallel()
	hub := roomtest.NewHub(t, nil)
	base := serve(t, roomtest.Member(hub, false))
	a, b := dial(t, base+"/?nick=a"), dial(t, base+"/?nick=b")
	wstest.WaitFor(t, 10*time.Second, "both to join", func() bool { r := hub.Room("r"); return r != nil && r.Len() == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Send(ctx, protocol.Text, []byte("from a")); err != nil {
		t.Fatal(err)
	}
	if _, data, err := b.Recv(ctx); err != nil || string(data) != "from a" {
		t.Fatalf("b got %q %v", data, err)
	}
	if err := hub.Room("r").Broadcast(protocol.Text, []byte("to all")); err != nil {
		t.Fatal(err)
	}
	// a's next message is the broadcast, not its own message back.
	if _, data, err := a.Recv(ctx); err != nil || string(data) != "to all" {
		t.Errorf("a got %q %v, want the broadcast", data, err)
	}
}

func TestMemberSend(t *testing.T) {
	t.Parallel()
	joined := make(chan *room.Member, 1)
	r, err := room.New("private", nil)
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		m, err := r.Join(c, nil)
		if err != nil {
			return err
		}
		joined <- m
		_, _, err = c.Recv(ctx)
		return err
	})})
	c := dial(t, base+"/")
	m := <-joined
	if err := m.Send(protocol.Binary, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if typ, data, err := c.Recv(ctx); err != nil || typ != protocol.Binary || !slices.Equal(data, []byte{1, 2}) {
		t.Errorf("got %v %v %v", typ, data, err)
	}
	m.Leave()
	m.Leave()
	if err := m.Send(protocol.Text, []byte("x")); err == nil {
		t.Error("Send after Leave: no error")
	}
	if r.Len() != 0 {
		t.Errorf("room has %d members after Leave", r.Len())
	}
	r.Close()
	if err := r.Broadcast(protocol.Text, []byte("x")); err == nil {
		t.Error("Broadcast on a closed room: no error")
	}
}

// TestMemberErr: a member says why it left.
func TestMemberErr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		queue int
		// end makes the member leave; c is the client, which reads
		// nothing.
		end  func(t *testing.T, r *room.Room, m *room.Member, c *wstest.Conn)
		want error
	}{
		{"Leave", 0, func(_ *testing.T, _ *room.Room, m *room.Member, _ *wstest.Conn) { m.Leave() }, nil},
		{"room closed", 0, func(_ *testing.T, r *room.Room, _ *room.Member, _ *wstest.Conn) { r.Close() }, room.ErrRoomClosed},
		{"connection closed", 0, func(t *testing.T, _ *room.Room, m *room.Member, c *wstest.Conn) {
			if err := c.WriteClose(int(protocol.CloseNormal), ""); err != nil {
				t.Fatal(err)
			}
			<-m.Conn().Done()
		}, nil},
		{"too slow", 4, func(t *testing.T, r *room.Room, _ *room.Member, _ *wstest.Conn) {
			big := make([]byte, 256<<10)
			for i := 0; r.Len() > 0; i++ {
				if i == 1000 {
					t.Fatal("a member that reads nothing was never dropped")
				}
				if err := r.Broadcast(protocol.Binary, big); err != nil {
					t.Fatal(err)
				}
			}
		}, room.ErrTooSlow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := room.New("r", &room.Options{QueueSize: tt.queue})
			if err != nil {
				t.Fatal(err)
			}
			members := make(chan *room.Member, 1)
			h := service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
				m, err := r.Join(c, nil)
				if err != nil {
					return err
				}
				members <- m
				<-ctx.Done()
				return nil
			})
			addr := strings.TrimPrefix(serve(t, &service.Endpoint{Handler: h}), "ws://")
			c, err := wstest.Dial(addr, "/")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			m := <-members
			if err := m.Err(); err != nil {
				t.Fatalf("Err of a member: %v, want nil", err)
			}
			tt.end(t, r, m, c)
			wstest.WaitFor(t, 10*time.Second, "the member to leave", func() bool { return r.Len() == 0 })
			if err := m.Err(); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Err = %v, want %v", err, tt.want)
			}
			c.Close()
			<-m.Conn().Done()
		})
	}
}
