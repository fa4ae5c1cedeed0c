package wstest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Build compiles the main package in the current directory (an example
// program's test runs there) into dir and returns the binary's path. The
// binary is built with the race detector when the tests are.
func Build(dir string) (string, error) {
	return BuildPackage(dir, ".", raceEnabled)
}

// BuildPackage compiles the main package pkg (a directory, relative to the
// current one) into dir, with the race detector if race is set, and
// returns the binary's path. A load client is built without it, so that
// the load it puts on is not slowed tenfold.
func BuildPackage(dir, pkg string, race bool) (string, error) {
	bin := filepath.Join(dir, filepath.Base(filepath.Clean(pkg)))
	if pkg == "." {
		bin = filepath.Join(dir, "prog")
	}
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, pkg)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin, nil
}

// Main is the TestMain of an example program's tests: it builds the
// program once into a temporary directory, stores the binary's path in
// *bin, runs the tests, removes the directory and exits with the tests'
// status.
func Main(m *testing.M, bin *string) {
	dir, err := os.MkdirTemp("", "wsmap-example")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin, err = Build(dir)
	if err != nil {
		os.RemoveAll(dir)
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Program is a running example server.
type Program struct {
	Cmd  *exec.Cmd
	Addr string // host:port from its "listening on" line
	out  *bufio.Reader
	rest chan string // the lines after the first
	done chan error
}

// Line returns the next line the program printed after its first, waiting
// up to 10 seconds for it.
func (p *Program) Line(t testing.TB) string {
	t.Helper()
	select {
	case line := <-p.rest:
		return line
	case <-time.After(10 * time.Second):
		t.Fatal("program printed no further line")
		return ""
	}
}

// Start runs bin with args, which should include "-addr 127.0.0.1:0",
// and waits for its "listening on HOST:PORT" line. The program is
// interrupted and waited for at the end of the test.
func Start(t testing.TB, bin string, args ...string) *Program {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Program{Cmd: cmd, out: bufio.NewReader(stdout), done: make(chan error, 1), rest: make(chan string, 64)}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	})
	lines := make(chan string, 1)
	go func() {
		line, err := p.out.ReadString('\n')
		if err != nil {
			line = "error: " + err.Error()
		}
		lines <- line
		for {
			line, err := p.out.ReadString('\n')
			if err != nil {
				break
			}
			select {
			case p.rest <- strings.TrimRight(line, "\n"):
			default: // nobody reads them: drop
			}
		}
		_, _ = io.Copy(io.Discard, p.out)
		p.done <- cmd.Wait()
	}()
	select {
	case line := <-lines:
		addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
		if !ok {
			t.Fatalf("first line %q, want \"listening on HOST:PORT\"", line)
		}
		p.Addr = addr
	case <-time.After(60 * time.Second):
		t.Fatal("program did not print its address")
	}
	return p
}

// Stop sends sig and waits up to d for the program to exit, returning its
// exit error.
func (p *Program) Stop(sig os.Signal, d time.Duration) error {
	if err := p.Cmd.Process.Signal(sig); err != nil {
		return err
	}
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		return err
	case <-time.After(d):
		return fmt.Errorf("program did not exit within %v of %v", d, sig)
	}
}
