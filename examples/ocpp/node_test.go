package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/wstest"
)

// npmInstall is the command that installs the reference client.
const npmInstall = "npm ci --prefix examples/ocpp/testdata/node (at the repository's root)"

// nodeStation returns the path of a Node.js (18 or later, which has
// fetch) that can run testdata/node/station.js, whose packages are
// installed. Without one the test is skipped, saying what to install, or
// fails where wstest.RequireTools holds.
func nodeStation(t *testing.T) string {
	t.Helper()
	var missing string
	node, err := exec.LookPath("node")
	if err == nil {
		out, verr := exec.Command(node, "-p", "process.versions.node").Output()
		major, _, _ := strings.Cut(strings.TrimSpace(string(out)), ".")
		if n, _ := strconv.Atoi(major); verr != nil || n < 18 {
			missing = "Node.js 18 or later (" + node + " is " + strings.TrimSpace(string(out)) + ")"
		}
	} else {
		missing = "Node.js 18 or later (node on the PATH)"
	}
	if missing == "" {
		if _, err := os.Stat("testdata/node/node_modules/ocpp-rpc/package.json"); err != nil {
			missing = "ocpp-rpc in testdata/node/node_modules"
		}
	}
	if missing == "" {
		return node
	}
	if wstest.RequireTools() {
		t.Fatalf("this test needs %s: run %s", missing, npmInstall)
	}
	t.Skipf("skipped: needs %s: run %s; set WSMAP_REQUIRE_TOOLS=1 to make its absence a failure", missing, npmInstall)
	return ""
}

// nodeCases are the cases testdata/node/station.js runs, each printed
// as "ok NAME" or "FAIL NAME<tab>why".
var nodeCases = func() []string {
	var cases []string
	for _, v := range []struct{ version, get, format string }{
		{"ocpp1.6", "GetConfiguration", "FormationViolation"},
		{"ocpp2.0.1", "GetVariables", "FormatViolation"},
	} {
		cases = append(cases,
			v.version+" connect with Basic auth",
			v.version+" BootNotification",
			v.version+" Heartbeat",
			v.version+" StatusNotification",
			v.version+" "+v.get+" through the API, answered",
			v.version+" ClearCache through the API, unanswered: 504",
			v.version+" invalid call refused by strict mode before it is sent",
			v.version+" invalid call, missing property: OccurenceConstraintViolation",
			v.version+" invalid call, wrong type: TypeConstraintViolation",
			v.version+" invalid call, not in the enum: PropertyConstraintViolation",
			v.version+" invalid call, additional property: "+v.format,
			v.version+" invalid call, unknown action: NotImplemented",
		)
	}
	return append(cases,
		"wrong password refused with 401",
		"no version served: ws fails the handshake that has no subprotocol",
		"a second connection replaces the first, closed with its reason",
	)
}()

// TestOCPPRPC: ocpp-rpc's RPCClient, in strict mode, is a station of
// each version (testdata/node/station.js); each of its cases is a
// subtest. The schemas it validates with are the program's.
func TestOCPPRPC(t *testing.T) {
	t.Parallel()
	node := nodeStation(t)
	for _, f := range []string{"ocpp1_6.json", "ocpp2_0_1.json"} {
		ours, err := os.ReadFile("schemas/" + f)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := os.ReadFile("testdata/node/node_modules/ocpp-rpc/lib/schemas/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ours, theirs) {
			t.Errorf("schemas/%s differs from the installed ocpp-rpc's: the two ends validate differently (see schemas/README.md)", f)
		}
	}
	const password = "node-0123456789abcdef"
	var passwords strings.Builder
	for _, id := range []string{"node-ocpp1.6", "node-ocpp2.0.1", "node-replaced"} {
		passwords.WriteString(id + ":" + password + "\n")
	}
	p := start(t, "-basic-auth", writeFile(t, "passwords", passwords.String()), "-call-timeout", "2s")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "testdata/node/station.js", "ws://"+p.Addr+"/ocpp", "http://"+p.Addr, password).CombinedOutput()
	outcomes := map[string]string{} // "" for ok, else why it failed
	var done bool
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		switch {
		case line == "done":
			done = true
		case strings.HasPrefix(line, "ok "):
			outcomes[strings.TrimPrefix(line, "ok ")] = ""
		case strings.HasPrefix(line, "FAIL "):
			name, why, _ := strings.Cut(strings.TrimPrefix(line, "FAIL "), "\t")
			outcomes[name] = "FAIL: " + why
		}
	}
	for _, name := range nodeCases {
		t.Run(name, func(t *testing.T) {
			why, ok := outcomes[name]
			switch {
			case !ok:
				t.Error("the script printed no outcome")
			case why != "":
				t.Error(why)
			}
		})
		delete(outcomes, name)
	}
	for name := range outcomes {
		t.Errorf("the script ran a case the test does not know: %q", name)
	}
	if !done || err != nil {
		t.Errorf("node station.js: %v\n%s", err, out)
	}
}
