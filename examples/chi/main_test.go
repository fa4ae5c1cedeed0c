package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
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
	_ = echo.SendBinary(ctx, []byte{1, 2, 3})
	if typ, data, err := echo.Recv(ctx); err != nil || typ != protocol.Binary || string(data) != "\x01\x02\x03" {
		t.Errorf("echo: %v %q %v", typ, data, err)
	}

	room, _, err := service.Dial(ctx, "ws://"+p.Addr+"/ws/rooms/lobby-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = room.SendText(ctx, "hello")
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
