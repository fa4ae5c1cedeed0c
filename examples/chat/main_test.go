package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/service"
)

var bin string

func TestMain(m *testing.M) { wstest.Main(m, &bin) }

var youAre = regexp.MustCompile(`^you are (user-\d{4}) in ([a-z0-9-]+)\.$`)

// msg is a message from the server, as the page reads it.
type msg struct {
	Kind    string `json:"kind"`
	Text    string `json:"text"`
	Nick    string `json:"nick"`
	Pos     string `json:"pos"`
	Resumed bool   `json:"resumed"`
	Lost    string `json:"lost"`
}

// recv reads the next message.
func recv(t *testing.T, ctx context.Context, c *service.Conn) msg {
	t.Helper()
	typ, data, err := c.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m msg
	if err := json.Unmarshal(data, &m); typ != protocol.Text || err != nil {
		t.Fatalf("got %v %q, not a JSON text message: %v", typ, data, err)
	}
	return m
}

// hello reads the first message, which names the member and its room.
func hello(t *testing.T, ctx context.Context, c *service.Conn, room string) msg {
	t.Helper()
	m := recv(t, ctx, c)
	if sub := youAre.FindStringSubmatch(m.Text); m.Kind != "hello" || sub == nil || sub[1] != m.Nick || sub[2] != room {
		t.Fatalf("first message %+v, want hello: \"you are user-N in %s.\"", m, room)
	}
	return m
}

// join connects to a room and returns the connection and its nickname.
func join(t *testing.T, ctx context.Context, url, room string) (*service.Conn, string) {
	t.Helper()
	c, _, err := service.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(protocol.CloseNormal, "") })
	nick := hello(t, ctx, c, room).Nick
	expect(t, ctx, c, nick+" has joined.")
	return c, nick
}

// expect reads the next message and compares its text with want.
func expect(t *testing.T, ctx context.Context, c *service.Conn, want string) msg {
	t.Helper()
	m := recv(t, ctx, c)
	if m.Text != want {
		t.Fatalf("got %+v, want %q", m, want)
	}
	return m
}

func TestChatProgram(t *testing.T) {
	t.Parallel()
	p := wstest.Start(t, bin, "-addr", "127.0.0.1:0")
	if !strings.Contains(p.Line(t), "open http://"+p.Addr+"/ in a browser") {
		t.Error("no URL to open printed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	base := "ws://" + p.Addr

	a, nickA := join(t, ctx, base+"/chat/test-room", "test-room")
	b, nickB := join(t, ctx, base+"/chat/test-room", "test-room")
	expect(t, ctx, a, nickB+" has joined.")
	if nickA == nickB {
		t.Logf("both members drew %s; the notices still tell them apart by order", nickA)
	}

	// A message reaches everyone in the room, its sender too, verbatim.
	if err := b.Send(ctx, protocol.Text, []byte("<b>hi</b> & bye")); err != nil {
		t.Fatal(err)
	}
	expect(t, ctx, a, nickB+": <b>hi</b> & bye")
	expect(t, ctx, b, nickB+": <b>hi</b> & bye")

	// Another room does not hear it; /chat is the lobby.
	lobby, _ := join(t, ctx, base+"/chat", "lobby")
	if err := a.Send(ctx, protocol.Text, []byte("only test-room")); err != nil {
		t.Fatal(err)
	}
	expect(t, ctx, a, nickA+": only test-room")
	expect(t, ctx, b, nickA+": only test-room")
	if err := lobby.Send(ctx, protocol.Text, []byte("lobby")); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, ctx, lobby); m.Kind != "chat" || !strings.HasSuffix(m.Text, ": lobby") || m.Pos == "" {
		t.Errorf("lobby got %+v", m)
	}

	// A departure is announced.
	if err := b.Close(protocol.CloseNormal, ""); err != nil {
		t.Fatal(err)
	}
	expect(t, ctx, a, nickB+" has left.")

	// Binary messages are refused with 1003.
	if err := a.Send(ctx, protocol.Binary, []byte{1}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Recv(ctx); err == nil {
		t.Error("binary message: no close")
	} else if code, _ := service.CloseStatus(err); code != protocol.CloseUnsupportedData {
		t.Errorf("binary message: %v, want 1003", err)
	}

	// The page, and refusals.
	for path, want := range map[string]int{"/": 200, "/chat/UPPER": 404, "/chat": 426, "/nothing": 404} {
		resp, err := http.Get("http://" + p.Addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %s", path, resp.Status)
		}
		if path == "/" && (!strings.Contains(string(body), "<title>wsmap chat</title>") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html")) {
			t.Errorf("GET /: %q %.80q", resp.Header.Get("Content-Type"), body)
		}
	}

	if err := p.Stop(syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	_, _, err := lobby.Recv(ctx)
	if code, _ := service.CloseStatus(err); code != protocol.CloseGoingAway {
		t.Errorf("after SIGTERM: %v, want 1001", err)
	}
}

// TestChatResume: a member that left comes back with the position of the
// last message it received and its nickname, and gets what it missed,
// once each, then "hello" saying it resumed, then the live messages (the
// others hear it is back); a
// position the room cannot recover, or one that does not parse, joins
// afresh with the reason in "lost".
func TestChatResume(t *testing.T) {
	t.Parallel()
	p := wstest.Start(t, bin, "-addr", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	base := "ws://" + p.Addr + "/chat/resume"
	a, nickA := join(t, ctx, base, "resume")
	b, nickB := join(t, ctx, base, "resume")
	expect(t, ctx, a, nickB+" has joined.")
	if err := b.Send(ctx, protocol.Text, []byte("one")); err != nil {
		t.Fatal(err)
	}
	expect(t, ctx, a, nickB+": one")
	last := expect(t, ctx, b, nickB+": one").Pos
	if _, err := room.ParsePosition(last); err != nil {
		t.Fatalf("a broadcast's position: %v", err)
	}
	if err := b.Close(protocol.CloseNormal, ""); err != nil {
		t.Fatal(err)
	}
	expect(t, ctx, a, nickB+" has left.")
	for _, text := range []string{"two", "three"} {
		if err := a.Send(ctx, protocol.Text, []byte(text)); err != nil {
			t.Fatal(err)
		}
		expect(t, ctx, a, nickA+": "+text)
	}

	back, _, err := service.Dial(ctx, base+"?since="+last+"&nick="+nickB, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close(protocol.CloseNormal, "")
	var got []string
	for range 3 {
		got = append(got, recv(t, ctx, back).Text)
	}
	if diff := cmp.Diff([]string{nickB + " has left.", nickA + ": two", nickA + ": three"}, got); diff != "" {
		t.Errorf("missed messages (-want +got):\n%s", diff)
	}
	if h := hello(t, ctx, back, "resume"); !h.Resumed || h.Nick != nickB || h.Lost != "" {
		t.Errorf("hello after catching up: %+v, want resumed as %s", h, nickB)
	}
	expect(t, ctx, a, nickB+" is back.") // to the others
	if err := back.Send(ctx, protocol.Text, []byte("four")); err != nil {
		t.Fatal(err)
	}
	expect(t, ctx, a, nickB+": four")
	expect(t, ctx, back, nickB+": four")

	for since, lost := range map[string]string{"other-epoch:3": "another epoch", "garbage": "position"} {
		c, _, err := service.Dial(ctx, base+"?since="+since, nil)
		if err != nil {
			t.Fatal(err)
		}
		if h := hello(t, ctx, c, "resume"); h.Resumed || !strings.Contains(h.Lost, lost) {
			t.Errorf("since=%s: hello %+v, want not resumed, lost %q", since, h, lost)
		}
		_ = c.Close(protocol.CloseNormal, "")
	}
}
