package main

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

var bin string

func TestMain(m *testing.M) { wstest.Main(m, &bin) }

// server echoes text and answers "bin" with a binary message and "quit"
// by closing with 4000.
func server(t *testing.T) string {
	srv := httptest.NewServer(&service.Endpoint{Protocols: []string{"echo"}, Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		for {
			typ, data, err := c.Recv(ctx)
			if err != nil {
				return err
			}
			switch string(data) {
			case "bin":
				err = c.Send(ctx, protocol.Binary, []byte{0xca, 0xfe})
			case "quit":
				return &service.CloseError{Code: 4000, Reason: "asked to quit"}
			default:
				err = c.Send(ctx, typ, data)
			}
			if err != nil {
				return err
			}
		}
	})})
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func runClient(t *testing.T, stdin string, args ...string) (stdout, stderr string, exit int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		exit = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return o.String(), e.String(), exit
}

func TestClientProgram(t *testing.T) {
	t.Parallel()
	url := server(t)
	tests := []struct {
		name       string
		stdin      string
		args       []string
		wantStdout string
		wantStderr []string
		wantExit   int
	}{
		{"echo with protocol", "hello\nbin\nwörld\n", []string{"-protocols", "echo", "-wait", "300ms", url},
			"hello\nbinary: cafe\nwörld\n",
			[]string{"connected to " + url + " (subprotocol: echo)", `closed: 1000 (normal closure) ""`}, 0},
		{"no protocol", "one\n", []string{"-wait", "300ms", url},
			"one\n",
			[]string{"(subprotocol: none)", "closed: 1000"}, 0},
		{"server closes", "a\nquit\nnever sent\n", []string{"-wait", "5s", url},
			"a\n",
			[]string{`closed: 4000 (private use) "asked to quit"`}, 1},
		{"refused offer", "", []string{"-protocols", "chat", url + "?token=secret"},
			"",
			[]string{"client: refused by " + url + ": 400 Bad Request: no offered subprotocol is supported; supported: echo"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, exit := runClient(t, tt.stdin, tt.args...)
			if diff := cmp.Diff(tt.wantStdout, stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
			if strings.Contains(stderr, "secret") {
				t.Errorf("stderr repeats the URL's query: %q", stderr)
			}
			if exit != tt.wantExit {
				t.Errorf("exit status %d, want %d (stderr %q)", exit, tt.wantExit, stderr)
			}
		})
	}
}

func TestClientUsage(t *testing.T) {
	t.Parallel()
	_, stderr, exit := runClient(t, "")
	if exit != 2 || !strings.Contains(stderr, "usage: client") {
		t.Errorf("without URL: exit %d, stderr %q", exit, stderr)
	}
}
