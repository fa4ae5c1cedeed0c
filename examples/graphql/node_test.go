package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/wstest"
)

// nodeDir holds the Node package of the reference clients.
const nodeDir = "testdata/node"

// npmCommand installs the reference clients, from the repository's root.
const npmCommand = "npm ci --prefix examples/graphql/testdata/node"

// TestReferenceClients drives the program with the reference clients of
// both protocols, graphql-ws's over graphql-transport-ws and
// subscriptions-transport-ws's over graphql-ws (testdata/node/clients.mjs):
// each case of the script is a subtest. It needs Node.js 20 or later and
// the clients installed (npmCommand); without them it is skipped, or
// fails where wstest.RequireTools holds.
func TestReferenceClients(t *testing.T) {
	t.Parallel()
	node := nodeTool(t)
	p := wstest.Start(t, bin, "-addr", "127.0.0.1:0")
	short := wstest.Start(t, bin, "-addr", "127.0.0.1:0", "-init-timeout", "500ms", "-keepalive", "50ms")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "clients.mjs", p.Addr, short.Addr)
	cmd.Dir = nodeDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node clients.mjs: %v\n%s%s", err, out, stderr.String())
	}
	ran, cases := 0, -1
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "ok "):
			t.Run(strings.TrimPrefix(line, "ok "), func(*testing.T) {})
			ran++
		case strings.HasPrefix(line, "FAIL "):
			name, why, _ := strings.Cut(strings.TrimPrefix(line, "FAIL "), ": ")
			t.Run(name, func(t *testing.T) { t.Error(why) })
			ran++
		case strings.HasPrefix(line, "cases "):
			cases, _ = strconv.Atoi(strings.TrimPrefix(line, "cases "))
		default:
			t.Errorf("unexpected output: %s", line)
		}
	}
	if cases < 1 || ran != cases {
		t.Errorf("%d cases reported, the script counted %d\n%s", ran, cases, stderr.String())
	}
}

// nodeTool returns the path of node, 20 or later, with the reference
// clients installed; when either is missing the test is skipped, naming
// what to install, or fails where wstest.RequireTools holds.
func nodeTool(t *testing.T) string {
	t.Helper()
	missing := func(what string) {
		t.Helper()
		msg := "needs " + what + " (" + npmCommand + "; .ci/run runs it)"
		if wstest.RequireTools() {
			t.Fatal("this test " + msg)
		}
		t.Skip("skipped: " + msg + "; set WSMAP_REQUIRE_TOOLS=1 to make their absence a failure")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("Node.js 20 or later and the reference clients")
		return ""
	}
	v, err := exec.Command(node, "--version").Output()
	major, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(string(v)), "v"), ".")
	if n, _ := strconv.Atoi(major); err != nil || n < 20 {
		missing("Node.js 20 or later (found " + strings.TrimSpace(string(v)) + ") and the reference clients")
	}
	for _, pkg := range []string{"graphql-ws", "subscriptions-transport-ws", "graphql", "ws"} {
		if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", pkg, "package.json")); err != nil {
			missing("the reference clients, installed from " + nodeDir + "/package-lock.json")
		}
	}
	return node
}
