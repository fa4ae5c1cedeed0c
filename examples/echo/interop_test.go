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

// python is Debian's interpreter, which has the python3-websockets
// package that .ci/run installs.
const python = "/usr/bin/python3"

// TestPythonClient drives the echo program with Python's websockets
// library. It is skipped only outside CI when the library is missing; in
// CI (CI=true) a missing library fails the test.
func TestPythonClient(t *testing.T) {
	t.Parallel()
	if err := exec.Command(python, "-c", "import websockets").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3-websockets is not installed (%v); .ci/run installs it", err)
		}
		t.Skipf("python3-websockets not installed: %v", err)
	}
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
