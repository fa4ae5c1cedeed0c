package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

var bin string

func TestMain(m *testing.M) { wstest.Main(m, &bin) }

// start runs the program on a free loopback port with args.
func start(t *testing.T, args ...string) *wstest.Program {
	t.Helper()
	return wstest.Start(t, bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
}

// rawStation is a charging station the test drives frame by frame.
type rawStation struct {
	t   *testing.T
	c   *service.Conn
	ids atomic.Int64
}

// dial connects to the program at addr as the station id, offering
// protocols, with header's extra headers.
func dial(t *testing.T, addr, id string, header http.Header, protocols ...string) (*rawStation, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := service.Dial(ctx, "ws://"+addr+"/ocpp/"+id, &service.DialOptions{Subprotocols: protocols, Header: header})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = c.Close(protocol.CloseNormal, "") })
	return &rawStation{t: t, c: c}, nil
}

// mustDial is dial that fails the test on an error.
func mustDial(t *testing.T, addr, id string, protocols ...string) *rawStation {
	t.Helper()
	s, err := dial(t, addr, id, nil, protocols...)
	if err != nil {
		t.Fatalf("dial %s: %v", id, err)
	}
	return s
}

// send writes a frame.
func (s *rawStation) send(frame string) {
	s.t.Helper()
	if err := s.c.Send(context.Background(), protocol.Text, []byte(frame)); err != nil {
		s.t.Fatalf("send %s: %v", frame, err)
	}
}

// recv reads a frame and its elements, failing the test after 10s.
func (s *rawStation) recv() (string, []json.RawMessage) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := s.c.Recv(ctx)
	if err != nil {
		s.t.Fatalf("recv: %v", err)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(data, &elems); err != nil {
		s.t.Fatalf("recv %s: %v", data, err)
	}
	return string(data), elems
}

// call makes a call of action with payload (JSON) and returns the answer
// frame and its elements, checking that it answers the call.
func (s *rawStation) call(action, payload string) (string, []json.RawMessage) {
	s.t.Helper()
	id := fmt.Sprintf("t%d", s.ids.Add(1))
	s.send(fmt.Sprintf(`[2,%q,%q,%s]`, id, action, payload))
	frame, elems := s.recv()
	if len(elems) < 3 || str(elems[1]) != id {
		s.t.Fatalf("%s %s: answered %s, want the answer to %s", action, payload, frame, id)
	}
	return frame, elems
}

// result makes a call that must be answered with a CALLRESULT, and
// returns its payload.
func (s *rawStation) result(action, payload string) map[string]any {
	s.t.Helper()
	frame, elems := s.call(action, payload)
	var result map[string]any
	if string(elems[0]) != "3" || json.Unmarshal(elems[2], &result) != nil {
		s.t.Fatalf("%s %s: answered %s, want a CALLRESULT", action, payload, frame)
	}
	return result
}

// boot sends a valid BootNotification of the station's version.
func (s *rawStation) boot() {
	s.t.Helper()
	payload := `{"chargePointVendor":"wsmap","chargePointModel":"bench"}`
	if s.c.Subprotocol() == "ocpp2.0.1" {
		payload = `{"reason":"PowerUp","chargingStation":{"vendorName":"wsmap","model":"bench"}}`
	}
	if r := s.result("BootNotification", payload); r["status"] != "Accepted" {
		s.t.Fatalf("BootNotification: %v, want Accepted", r)
	}
}

// closed reads until the connection ends and returns its close code and
// reason.
func (s *rawStation) closed() (protocol.CloseCode, string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, data, err := s.c.Recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				s.t.Fatal("the connection did not close within 10s")
			}
			return service.CloseStatus(err)
		}
		s.t.Logf("received %s before the close", data)
	}
}

// str decodes a JSON string, "" if it is not one.
func str(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// get requests path and decodes the JSON answer into v.
func get(t *testing.T, addr, path string, v any) int {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %s %q: %v", path, resp.Status, body, err)
	}
	return resp.StatusCode
}

// listed is a station as GET /stations lists it.
type listed struct {
	ID         string            `json:"id"`
	Protocol   string            `json:"protocol"`
	Calls      int               `json:"calls"`
	Vendor     string            `json:"vendor"`
	Model      string            `json:"model"`
	Connectors map[string]string `json:"connectors"`
}

func stations(t *testing.T, addr string) []listed {
	t.Helper()
	var list []listed
	if code := get(t, addr, "/stations", &list); code != http.StatusOK {
		t.Fatalf("GET /stations: %d", code)
	}
	return list
}

// TestHandshake: the version is the first of the station's offer that
// is served; a station that offers neither version is connected without
// a subprotocol and closed at once.
func TestHandshake(t *testing.T) {
	t.Parallel()
	p := start(t)
	tests := []struct {
		name  string
		path  string
		offer []string
		want  string // the subprotocol; "" for a connection closed at once
	}{
		{"2.0.1", "CP-201", []string{"ocpp2.0.1"}, "ocpp2.0.1"},
		{"1.6", "CP-16", []string{"ocpp1.6"}, "ocpp1.6"},
		{"1.6 first", "CP.a", []string{"ocpp1.6", "ocpp2.0.1"}, "ocpp1.6"},
		{"2.0.1 first", "CP_b", []string{"ocpp2.0.1", "ocpp1.6"}, "ocpp2.0.1"},
		{"an unknown version first", "CP-c", []string{"ocpp2.1", "ocpp1.6"}, "ocpp1.6"},
		{"no version served", "CP-d", []string{"ocpp1.5", "ocpp2.1"}, ""},
		{"no subprotocol", "CP-e", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustDial(t, p.Addr, tt.path, tt.offer...)
			if got := s.c.Subprotocol(); got != tt.want {
				t.Fatalf("subprotocol %q, want %q", got, tt.want)
			}
			if tt.want != "" {
				s.boot()
				return
			}
			code, reason := s.closed()
			if code != protocol.ClosePolicyViolation || reason != "no OCPP version offered is served here; offer one of ocpp2.0.1, ocpp1.6" {
				t.Errorf("closed with %d %q, want 1008 naming the versions", code, reason)
			}
		})
	}
	t.Run("station id", func(t *testing.T) {
		t.Parallel()
		for _, id := range []string{"bad!id", strings.Repeat("x", 49), "a/b"} {
			_, err := dial(t, p.Addr, id, nil, "ocpp1.6")
			var he *service.HandshakeError
			if !errors.As(err, &he) || he.Status != http.StatusNotFound {
				t.Errorf("dial %q: %v, want 404", id, err)
			}
		}
	})
}

// TestReplace: a station that connects again takes the place of its
// earlier connection, which is closed saying so.
func TestReplace(t *testing.T) {
	t.Parallel()
	p := start(t)
	first := mustDial(t, p.Addr, "CP-1", "ocpp1.6")
	first.boot()
	other := mustDial(t, p.Addr, "CP-2", "ocpp1.6")
	other.boot()

	second := mustDial(t, p.Addr, "CP-1", "ocpp2.0.1")
	code, reason := first.closed()
	if code != protocol.CloseNormal || reason != "replaced by a newer connection of station CP-1" {
		t.Errorf("first connection closed with %d %q, want 1000 saying it was replaced", code, reason)
	}
	second.boot()
	other.result("Heartbeat", `{}`)
	want := []listed{
		{ID: "CP-1", Protocol: "ocpp2.0.1", Vendor: "wsmap", Model: "bench"},
		{ID: "CP-2", Protocol: "ocpp1.6", Vendor: "wsmap", Model: "bench"},
	}
	if diff := cmp.Diff(want, stations(t, p.Addr)); diff != "" {
		t.Errorf("GET /stations (-want +got):\n%s", diff)
	}
}

// TestShutdown: SIGTERM closes every station's connection with 1001.
func TestShutdown(t *testing.T) {
	t.Parallel()
	p := start(t)
	a := mustDial(t, p.Addr, "A", "ocpp1.6")
	b := mustDial(t, p.Addr, "B", "ocpp2.0.1")
	a.boot()
	b.boot()
	if err := p.Stop(syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*rawStation{a, b} {
		if code, _ := s.closed(); code != protocol.CloseGoingAway {
			t.Errorf("after SIGTERM: %d, want 1001", code)
		}
	}
}

// TestFlags: flags the program cannot run with stop it with a message.
func TestFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-call-timeout", "0s"},
		{"-heartbeat", "10ms"},
		{"-basic-auth", "testdata/no-such-file"},
	} {
		out, err := runProgram(args...)
		if err == nil {
			t.Errorf("%v: exited 0, want a failure", args)
		}
		if !strings.Contains(out, args[0]) && !strings.Contains(out, args[1]) {
			t.Errorf("%v: %q does not name the flag or its value", args, out)
		}
	}
}

// runProgram runs the program with args until it exits, for 10s at
// most, and returns what it printed.
func runProgram(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...).CombinedOutput()
	return string(out), err
}
