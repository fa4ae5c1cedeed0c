package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/servetest"
	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// bin is the echo program, built once for all tests.
var bin string

func TestMain(m *testing.M) { wstest.Main(m, &bin) }

func dial(t *testing.T, url string, offer ...string) *service.Conn {
	return servetest.Dial(t, url, &service.DialOptions{Subprotocols: offer})
}

func TestEchoProgram(t *testing.T) {
	t.Parallel()
	p := wstest.Start(t, bin, "-addr", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tt := range []struct {
		path      string
		offer     []string
		wantProto string
	}{
		{"/", nil, ""},
		{"/any/path?q=1", []string{"echo"}, "echo"},
		{"/x", []string{"other", "echo"}, "echo"},
	} {
		c := dial(t, "ws://"+p.Addr+tt.path, tt.offer...)
		if c.Subprotocol() != tt.wantProto {
			t.Errorf("%s offering %q: subprotocol %q, want %q", tt.path, tt.offer, c.Subprotocol(), tt.wantProto)
		}
		for _, msg := range []struct {
			typ  protocol.MessageType
			data []byte
		}{{protocol.Text, []byte("hello, échö")}, {protocol.Binary, []byte{0, 1, 2, 255}}, {protocol.Text, nil}} {
			if err := c.Send(ctx, msg.typ, msg.data); err != nil {
				t.Fatal(err)
			}
			typ, data, err := c.Recv(ctx)
			if err != nil || typ != msg.typ || !bytes.Equal(data, msg.data) {
				t.Errorf("%s: sent %v %q, got %v %q %v", tt.path, msg.typ, msg.data, typ, data, err)
			}
		}
	}
	// An offer with nothing in common is refused with a reason.
	_, resp, err := service.Dial(ctx, "ws://"+p.Addr+"/", &service.DialOptions{Subprotocols: []string{"chat"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("offer without echo: %v %v, want 400", resp, err)
	}
}

func TestEchoGracefulShutdown(t *testing.T) {
	t.Parallel()
	for _, sig := range []os.Signal{syscall.SIGINT, syscall.SIGTERM} {
		p := wstest.Start(t, bin, "-addr", "127.0.0.1:0")
		conns := []*service.Conn{dial(t, "ws://"+p.Addr+"/"), dial(t, "ws://"+p.Addr+"/", "echo")}
		if err := p.Stop(sig, 15*time.Second); err != nil {
			t.Fatalf("%v: %v", sig, err)
		}
		for i, c := range conns {
			_, _, err := c.Recv(context.Background())
			if code, _ := service.CloseStatus(err); code != protocol.CloseGoingAway {
				t.Errorf("%v: client %d saw %v, want 1001", sig, i, err)
			}
		}
	}
}
