package wstest

import (
	"os"
	"os/exec"
	"testing"
)

// RequireTools reports whether tests that drive programs from outside Go
// (Chromium, Python's websockets) must fail when those are missing rather
// than skip: in CI (CI=true) and when WSMAP_REQUIRE_TOOLS=1.
func RequireTools() bool {
	return os.Getenv("CI") == "true" || os.Getenv("WSMAP_REQUIRE_TOOLS") == "1"
}

// Tool returns the first of candidates (paths or names looked up in PATH,
// empty ones skipped) that exists and, if usable is not nil, passes it.
// When none does, the test is skipped with a message naming the Debian
// package that provides the tool, or fails where RequireTools holds.
func Tool(t testing.TB, pkg string, usable func(path string) bool, candidates ...string) string {
	t.Helper()
	for _, c := range candidates {
		if c == "" {
			continue
		}
		path, err := exec.LookPath(c)
		if err != nil {
			continue
		}
		if usable == nil || usable(path) {
			return path
		}
	}
	if RequireTools() {
		t.Fatalf("this test needs Debian's %s package (apt-get install %s; .ci/run installs it)", pkg, pkg)
	}
	t.Skipf("skipped: needs Debian's %s package (apt-get install %s); set WSMAP_REQUIRE_TOOLS=1 to make its absence a failure", pkg, pkg)
	return ""
}

// LongEnv names the environment variable that runs the long tests: load,
// soak and chaos tests, and the tests of the measuring tools, which take
// minutes on two cores. .ci/run sets it; the README's test command
// without it runs everything else.
const LongEnv = "WSMAP_LONG"

// Long skips a long test, saying how to run it, unless LongEnv is 1.
func Long(t testing.TB) {
	t.Helper()
	if os.Getenv(LongEnv) != "1" {
		t.Skipf("skipped: a long test; set %s=1 to run it (.ci/run does)", LongEnv)
	}
}
