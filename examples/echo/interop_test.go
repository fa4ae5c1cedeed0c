package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/wstest"
)

// TestPythonClient drives the echo program with Python's websockets
// library: a Python 3 ($PYTHON, python3 on the PATH, or Debian's) that can
// import it. Without one the test is skipped, or fails in CI (see
// wstest.Tool).
func TestPythonClient(t *testing.T) {
	t.Parallel()
	hasWebsockets := func(path string) bool { return exec.Command(path, "-c", "import websockets").Run() == nil }
	python := wstest.Tool(t, "python3-websockets", hasWebsockets, os.Getenv("PYTHON"), "python3", "/usr/bin/python3")
	p := wstest.Start(t, bin, "-addr", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "testdata/client.py", "ws://"+p.Addr+"/").CombinedOutput()
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, out)
	}
	want := []string{"subprotocol echo", "echoed str of 17", "echoed str of 5", "echoed str of 0", "echoed bytes of 4", "echoed bytes of 70000", "closed 1000"}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSpace(string(out)), "\n")); diff != "" {
		t.Errorf("python client output (-want +got):\n%s", diff)
	}
}
