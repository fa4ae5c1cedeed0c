package room_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/service"
)

// recvTexts reads n messages from c, within 10 seconds.
func recvTexts(t *testing.T, c *service.Conn, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	for range n {
		_, data, err := c.Recv(ctx)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, string(data))
	}
	return got
}

// within fails the test if f has not returned after d; f must not call
// t.FailNow.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s has not returned after %v", what, d)
	}
}

// TestEncodeHoldsNoLock: while History.Encode works on a broadcast,
// the room's other methods go on (joins, presence, positions, messages
// to one member); a broadcast made meanwhile returns once the one before
// it is delivered, and the members receive the two in the order of
// their positions.
func TestEncodeHoldsNoLock(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	encode := func(pos room.Position, _ room.MemberInfo, typ protocol.MessageType, data []byte) (protocol.MessageType, []byte) {
		if string(data) == "slow" {
			close(entered)
			<-release
		}
		return typ, fmt.Appendf(nil, "%d:%s", pos.Offset, data)
	}
	r, err := room.New("encode", &room.Options{History: &room.History{Size: 10, Encode: encode}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	members := make(chan *room.Member, 3)
	url := serve(t, joining(r, members))
	c1 := dial(t, url)
	m1 := <-members

	slow := make(chan error, 1)
	go func() { slow <- r.Broadcast(protocol.Text, []byte("slow")) }()
	<-entered
	fast := make(chan error, 1)
	c2 := dial(t, url)
	within(t, 5*time.Second, "the room's methods while Encode works", func() {
		if got := r.Position().Offset; got != 0 {
			t.Errorf("Position while the first broadcast is encoded: offset %d, want 0", got)
		}
		<-members // c2's
		if n := len(r.Members()); n != 2 {
			t.Errorf("%d members, want 2", n)
		}
		if err := m1.Send(protocol.Text, []byte("direct")); err != nil {
			t.Error(err)
		}
		go func() { fast <- r.Broadcast(protocol.Text, []byte("fast")) }()
	})
	select {
	case err := <-fast:
		t.Fatalf("the second broadcast returned (%v) before the first was encoded", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	for _, ch := range []chan error{slow, fast} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"direct", "1:slow", "2:fast"}, recvTexts(t, c1, 3)); diff != "" {
		t.Errorf("the first member (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"1:slow", "2:fast"}, recvTexts(t, c2, 2)); diff != "" {
		t.Errorf("the member that joined while Encode worked (-want +got):\n%s", diff)
	}
}

// TestEncodeFailureSkipsPosition: a broadcast whose Encode panics, or
// gives an invalid message type, takes its position without a message;
// the room goes on, and live and resuming members receive the messages
// around it, in order.
func TestEncodeFailureSkipsPosition(t *testing.T) {
	t.Parallel()
	encode := func(pos room.Position, _ room.MemberInfo, typ protocol.MessageType, data []byte) (protocol.MessageType, []byte) {
		switch string(data) {
		case "invalid":
			return protocol.MessageType(9), nil
		case "panic":
			panic("encode")
		}
		return typ, fmt.Appendf(nil, "%d:%s", pos.Offset, data)
	}
	r, err := room.New("skip", &room.Options{History: &room.History{Size: 10, Encode: encode}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	url := serve(t, resumeHandler(r))
	live := dial(t, url)
	waitMembers(t, r, 1)
	broadcast := func(s string) (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		return r.Broadcast(protocol.Text, []byte(s))
	}
	for _, tt := range []struct{ data, err string }{
		{"a", ""},
		{"invalid", "History.Encode"},
		{"panic", "panic: encode"},
		{"b", ""},
	} {
		if err := broadcast(tt.data); (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("Broadcast(%q): %v, want an error with %q", tt.data, err, tt.err)
		}
	}
	if diff := cmp.Diff([]string{"1:a", "4:b"}, recvTexts(t, live, 2)); diff != "" {
		t.Errorf("the live member (-want +got):\n%s", diff)
	}
	epoch := r.Position().Epoch
	if got := r.Position(); got != (room.Position{Epoch: epoch, Offset: 4}) {
		t.Errorf("Position: %v, want offset 4", got)
	}
	for _, tt := range []struct {
		from uint64
		want []string
	}{{0, []string{"1:a", "4:b"}}, {2, []string{"4:b"}}} {
		c := dial(t, url+"/?since="+room.Position{Epoch: epoch, Offset: tt.from}.String())
		if diff := cmp.Diff(tt.want, recvTexts(t, c, len(tt.want))); diff != "" {
			t.Errorf("resumed from %d (-want +got):\n%s", tt.from, diff)
		}
	}
	if err := broadcast("c"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"5:c"}, recvTexts(t, live, 1)); diff != "" {
		t.Errorf("the live member after (-want +got):\n%s", diff)
	}
}
