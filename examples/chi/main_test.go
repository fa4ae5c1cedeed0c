package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsmap/wsmap/asyncapi"
	"github.com/wsmap/wsmap/internal/asyncapitest"
	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

var bin string

func TestMain(m *testing.M) { wstest.Main(m, &bin) }

func TestChiProgram(t *testing.T) {
	t.Parallel()
	p := wstest.Start(t, bin, "-addr", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	echo, _, err := service.Dial(ctx, "ws://"+p.Addr+"/ws/echo", &service.DialOptions{Subprotocols: []string{"echo"}})
	if err != nil {
		t.Fatal(err)
	}
	if echo.Subprotocol() != "echo" {
		t.Errorf("subprotocol %q", echo.Subprotocol())
	}
	_ = echo.Send(ctx, protocol.Binary, []byte{1, 2, 3})
	if typ, data, err := echo.Recv(ctx); err != nil || typ != protocol.Binary || string(data) != "\x01\x02\x03" {
		t.Errorf("echo: %v %q %v", typ, data, err)
	}

	room, _, err := service.Dial(ctx, "ws://"+p.Addr+"/ws/rooms/lobby-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = room.Send(ctx, protocol.Text, []byte("hello"))
	if _, data, err := room.Recv(ctx); err != nil || string(data) != "[lobby-1] hello" {
		t.Errorf("room: %q %v", data, err)
	}

	// The REST route beside them sees both connections.
	resp, err := http.Get("http://" + p.Addr + "/api/health")
	if err != nil {
		t.Fatal(err)
	}
	var health struct {
		Status      string
		Connections int
	}
	if err := json.NewDecoder(resp.Body).Decode(&health); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("health: %v %q", err, resp.Header.Get("Content-Type"))
	}
	resp.Body.Close()
	if health.Status != "ok" || health.Connections != 2 {
		t.Errorf("health = %+v, want ok with 2 connections", health)
	}

	// /metrics has the connections, labelled by route pattern. Observers
	// hear of a message once its write has returned, which can be after
	// the client has it: the figures are read until they are all there,
	// for two seconds at most.
	wants := []string{
		`wsmap_connections_open{protocol="echo",route="/ws/echo"} 1`,
		`wsmap_messages_total{direction="in",protocol="echo",route="/ws/echo"} 1`,
		`wsmap_message_bytes_total{direction="out",protocol="echo",route="/ws/echo"} 3`,
		`wsmap_connections_open{protocol="",route="/ws/rooms/{room}/"} 1`,
		`wsmap_messages_total{direction="out",protocol="",route="/ws/rooms/{room}/"} 1`,
	}
	var body []byte
	var missing []string
	for deadline := time.Now().Add(2 * time.Second); ; {
		resp, err = http.Get("http://" + p.Addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		missing = missing[:0]
		for _, want := range wants {
			if !strings.Contains(string(body), want+"\n") {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range missing {
		t.Errorf("/metrics lacks %s:\n%s", want, body)
	}
	if strings.Contains(string(body), "lobby-1") {
		t.Error("/metrics has a raw path in a label")
	}

	// chi middleware refuses a bad room name before the upgrade.
	for path, want := range map[string]int{"/ws/rooms/No!": 400, "/ws/nothing": 404, "/ws/echo": 426} {
		resp, err := http.Get("http://" + p.Addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %s %q, want %d", path, resp.Status, body, want)
		}
	}

	if err := p.Stop(syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*service.Conn{echo, room} {
		_, _, err := c.Recv(ctx)
		if code, _ := service.CloseStatus(err); code != protocol.CloseGoingAway {
			t.Errorf("after SIGTERM: %v, want 1001", err)
		}
	}
}

// output collects what the program writes to one of its streams.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// startLogged starts the program on a free loopback port, as wstest.Start
// does, and returns its address and what it logs (its standard error).
// The program is killed at the end of the test.
func startLogged(t *testing.T) (addr string, logs *output) {
	t.Helper()
	stdout, logs := &output{}, &output{}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = stdout, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	var first string
	wstest.WaitFor(t, 60*time.Second, "the program's first line", func() bool {
		var ok bool
		first, _, ok = strings.Cut(stdout.String(), "\n")
		return ok
	})
	addr, ok := strings.CutPrefix(first, "listening on ")
	if !ok {
		t.Fatalf("first line %q, want \"listening on HOST:PORT\"", first)
	}
	return addr, logs
}

// TestChiLogsRefusals: a handshake refused under /ws, across origins or
// otherwise, is logged with its status and the reason the client was
// given, beside chi's request log, which has only the status.
func TestChiLogsRefusals(t *testing.T) {
	t.Parallel()
	addr, logs := startLogged(t)
	tests := []struct {
		name   string
		path   string
		origin string // "" for none
		status int
		reason string
		route  string // the mux's route that refused it, if one did
	}{
		{"across origins", "/ws/echo", "https://evil.example", http.StatusForbidden,
			`origin "https://evil.example" is not allowed`, "/ws/echo"},
		{"across origins into a room", "/ws/rooms/lobby-1", "https://evil.example", http.StatusForbidden,
			`origin "https://evil.example" is not allowed`, "/ws/rooms/{room}/"},
		{"a bad room name", "/ws/rooms/No", "", http.StatusBadRequest,
			"room names are 1 to 32 of a-z, 0-9 and -", ""},
		{"no service", "/ws/nothing", "", http.StatusNotFound,
			`no WebSocket service at "/nothing"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			opts := &service.DialOptions{}
			if tt.origin != "" {
				opts.Header = http.Header{"Origin": {tt.origin}}
			}
			c, _, err := service.Dial(ctx, "ws://"+addr+tt.path, opts)
			if err == nil {
				_ = c.Close(protocol.CloseNormal, "")
				t.Fatalf("Dial %s: connected, want a %d refusal", tt.path, tt.status)
			}
			var he *service.HandshakeError
			if !errors.As(err, &he) || he.Status != tt.status || he.Reason != tt.reason {
				t.Fatalf("Dial %s: %v, want %d %q", tt.path, err, tt.status, tt.reason)
			}
			want := fmt.Sprintf(`level=WARN msg="websocket refused" status=%d reason=%q path=%s`, tt.status, tt.reason, tt.path)
			if tt.route != "" {
				want += " route=" + tt.route
			}
			want += " remote="
			// The record is written once the response has gone.
			if !wstest.Settle(5*time.Second, func() bool { return strings.Contains(logs.String(), want) }) {
				t.Fatalf("the log lacks %s:\n%s", want, logs)
			}
		})
	}
}

// TestChiAsyncAPI checks the document at /asyncapi.json against the
// official schema, and that it names both muxes' routes at their mount
// points.
func TestChiAsyncAPI(t *testing.T) {
	t.Parallel()
	p := wstest.Start(t, bin, "-addr", "127.0.0.1:0")
	resp, err := http.Get("http://" + p.Addr + "/asyncapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /asyncapi.json: %d %q %v", resp.StatusCode, resp.Header.Get("Content-Type"), err)
	}
	asyncapitest.Validate(t, body)
	var doc asyncapi.Document
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for id, ch := range doc.Channels {
		got[id] = *ch.Address
		for name, prm := range ch.Parameters {
			got[id] += " " + name + "=" + prm.Pattern
		}
	}
	want := map[string]string{"ws_echo": "/ws/echo", "ws_rooms_room": "/ws/rooms/{room} room=[a-z0-9-]{1,32}"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("channels %v, want %v", got, want)
	}
	var headers bytes.Buffer
	if err := json.Compact(&headers, doc.Channels["ws_echo"].Bindings.WS.Headers); err != nil || !strings.Contains(headers.String(), `"examples":["echo"],"pattern":`) {
		t.Errorf("echo's headers: %s %v", &headers, err)
	}
}
