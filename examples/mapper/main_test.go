package main

import (
	"context"
	"flag"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/asyncapitest"
	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

var bin string

var update = flag.Bool("update", false, "rewrite testdata/asyncapi.json with the program's document")

func TestMain(m *testing.M) { wstest.Main(m, &bin) }

// TestMapperProgram drives the program with the cases of Racket's test
// table.
func TestMapperProgram(t *testing.T) {
	t.Parallel()
	p := wstest.Start(t, bin, "-addr", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tt := range []struct {
		path      string
		offer     []string
		wantProto string
		msg, want string
	}{
		{"/echo", []string{"echo.v2"}, "echo.v2", "hello", "v2:hello"},
		{"/echo", []string{"echo.v1"}, "echo.v1", "hello", "v1:hello"},
		{"/echo", []string{"echo.v1", "echo.v2"}, "echo.v1", "x", "v1:x"},
		{"/echo", nil, "", "hello", "hello"},
		{"/chat/lobby", nil, "", "hi", "/chat/lobby:hi"},
		{"/chat/lobby?x=1", nil, "", "hi", "/chat/lobby:hi"},
	} {
		c, _, err := service.Dial(ctx, "ws://"+p.Addr+tt.path, &service.DialOptions{Subprotocols: tt.offer})
		if err != nil {
			t.Fatalf("%s %q: %v", tt.path, tt.offer, err)
		}
		if c.Subprotocol() != tt.wantProto {
			t.Errorf("%s %q: subprotocol %q, want %q", tt.path, tt.offer, c.Subprotocol(), tt.wantProto)
		}
		for range 2 { // the reply prefix must not accumulate
			if err := c.Send(ctx, protocol.Text, []byte(tt.msg)); err != nil {
				t.Fatal(err)
			}
			typ, got, err := c.Recv(ctx)
			if err != nil || typ != protocol.Text || string(got) != tt.want {
				t.Errorf("%s %q: sent %q, got %v %q %v, want %q", tt.path, tt.offer, tt.msg, typ, got, err, tt.want)
			}
		}
		_ = c.Close(protocol.CloseNormal, "")
	}
	for _, tt := range []struct {
		path   string
		offer  []string
		status int
	}{
		{"/chat/Lobby", nil, http.StatusNotFound},
		{"/nowhere", nil, http.StatusNotFound},
		{"/echo", []string{"echo.v3"}, http.StatusBadRequest},
		{"/chat/lobby", []string{"chat"}, http.StatusBadRequest},
	} {
		_, resp, err := service.Dial(ctx, "ws://"+p.Addr+tt.path, &service.DialOptions{Subprotocols: tt.offer})
		if err == nil || resp == nil || resp.StatusCode != tt.status {
			t.Errorf("%s %q: %v %v, want status %d", tt.path, tt.offer, resp, err, tt.status)
		}
	}
	// Graceful stop: an open connection is closed with 1001.
	c, _, err := service.Dial(ctx, "ws://"+p.Addr+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(syscall.SIGINT, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Recv(ctx)
	if code, _ := service.CloseStatus(err); code != protocol.CloseGoingAway {
		t.Errorf("after SIGINT: %v, want 1001", err)
	}
}

func TestMapperRoutesFlag(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(bin, "-routes").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := `PATTERN                 SUBPROTOCOLS       POLICY        HTTP
/echo                   echo.v2 echo.v1 -  client order  no
/chat/(?P<room>[a-z]+)  -                  client order  no
`
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("-routes output (-want +got):\n%s", diff)
	}
}

// TestMapperAsyncAPI checks the document -asyncapi prints against the
// official schema and the golden file testdata/asyncapi.json (rewritten
// with -update).
func TestMapperAsyncAPI(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(bin, "-asyncapi").Output()
	if err != nil {
		t.Fatal(err)
	}
	asyncapitest.Validate(t, out)
	const golden = "testdata/asyncapi.json"
	if *update {
		if err := os.WriteFile(golden, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(out)); diff != "" {
		t.Errorf("-asyncapi output (-%s +got):\n%s", golden, diff)
	}
}
