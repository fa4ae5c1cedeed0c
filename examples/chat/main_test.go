package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

var bin string

func TestMain(m *testing.M) { wstest.Main(m, &bin) }

var youAre = regexp.MustCompile(`^you are (user-\d{4}) in ([a-z0-9-]+)\.$`)

// join connects to a room and returns the connection and its nickname.
func join(t *testing.T, ctx context.Context, url, room string) (*service.Conn, string) {
	t.Helper()
	c, _, err := service.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(protocol.CloseNormal, "") })
	_, data, err := c.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := youAre.FindStringSubmatch(string(data))
	if m == nil || m[2] != room {
		t.Fatalf("first message %q, want \"you are user-N in %s.\"", data, room)
	}
	expect(t, ctx, c, m[1]+" has joined.")
	return c, m[1]
}

// expect reads the next message and compares it with want.
func expect(t *testing.T, ctx context.Context, c *service.Conn, want string) {
	t.Helper()
	typ, data, err := c.Recv(ctx)
	if err != nil || typ != protocol.Text || string(data) != want {
		t.Fatalf("got %v %q %v, want %q", typ, data, err, want)
	}
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
	if err := b.SendText(ctx, "<b>hi</b> & bye"); err != nil {
		t.Fatal(err)
	}
	expect(t, ctx, a, nickB+": <b>hi</b> & bye")
	expect(t, ctx, b, nickB+": <b>hi</b> & bye")

	// Another room does not hear it; /chat is the lobby.
	lobby, _ := join(t, ctx, base+"/chat", "lobby")
	if err := a.SendText(ctx, "only test-room"); err != nil {
		t.Fatal(err)
	}
	expect(t, ctx, a, nickA+": only test-room")
	expect(t, ctx, b, nickA+": only test-room")
	if err := lobby.SendText(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	_, data, err := lobby.Recv(ctx)
	if err != nil || !strings.HasSuffix(string(data), ": lobby") {
		t.Errorf("lobby got %q %v", data, err)
	}

	// A departure is announced.
	if err := b.Close(protocol.CloseNormal, ""); err != nil {
		t.Fatal(err)
	}
	expect(t, ctx, a, nickB+" has left.")

	// Binary messages are refused with 1003.
	if err := a.SendBinary(ctx, []byte{1}); err != nil {
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
	_, _, err = lobby.Recv(ctx)
	if code, _ := service.CloseStatus(err); code != protocol.CloseGoingAway {
		t.Errorf("after SIGTERM: %v, want 1001", err)
	}
}
