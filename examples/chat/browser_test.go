package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/natstest"
	"github.com/wsmap/wsmap/internal/wstest"
)

// chromium returns the path of the Chromium binary: $CHROMIUM, or Debian's
// package. Without it the test is skipped, or fails in CI (see
// wstest.Tool).
func chromium(t *testing.T) string {
	t.Helper()
	return wstest.Tool(t, "chromium", nil, os.Getenv("CHROMIUM"), "/usr/bin/chromium", "chromium")
}

// artifact returns where the test keeps a file for people to look at:
// $WSMAP_ARTIFACTS, or wsmap-artifacts in the temporary directory.
func artifact(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("WSMAP_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "wsmap-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// screenshot keeps a picture of the page as the artifact name.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 gives a PNG
	if err != nil {
		t.Fatal(err)
	}
	shot := artifact(t, name)
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
}

// waitLine waits until the page shows a line matching re and returns it.
func waitLine(ctx context.Context, re *regexp.Regexp) (string, error) {
	for {
		lines, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#log li"), li => li.textContent)`))
		if err != nil {
			return "", err
		}
		for _, l := range lines {
			if re.MatchString(l) {
				return l, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no line matching %s in %q: %w", re, lines, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// removeAll removes a browser's profile directory, which its child
// processes may still write to for a moment after it stops.
func removeAll(dir string) {
	for range 50 {
		if os.RemoveAll(dir) == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startBrowser starts headless Chromium, stopped at the end of the test.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := chromium(t)
	profile, err := os.MkdirTemp("", "wsmap-chromium")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeAll(profile) })
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(900, 700),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	// The first Run starts the browser and must not carry a timeout; the
	// steps after it are bounded through contexts derived from it.
	if _, err := chromedp.Run(browser, chromedp.Title()); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return browser
}

// openPage opens url in a new tab of browser and waits until the page
// has connected; its steps are bounded by d.
func openPage(t *testing.T, browser context.Context, url string, d time.Duration) (context.Context, context.CancelFunc) {
	t.Helper()
	tabCtx, cancelTab := chromedp.NewContext(browser)
	if err := chromedp.Do(tabCtx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
	ctx, cancel := context.WithTimeout(tabCtx, d)
	if err := chromedp.Do(ctx, chromedp.WaitEnabled(chromedp.CSS("#msg"))); err != nil {
		t.Fatalf("page did not connect: %v", err)
	}
	return ctx, func() { cancel(); cancelTab() }
}

// nickOn waits for the page's greeting in room and returns its nickname.
func nickOn(t *testing.T, ctx context.Context, room string) string {
	t.Helper()
	line, err := waitLine(ctx, regexp.MustCompile(`^you are user-\d{4} in `+room+`\.$`))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(line)[2]
}

// say types text into the page and sends it.
func say(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#msg"), text), chromedp.Click(chromedp.CSS("#send"))); err != nil {
		t.Fatal(err)
	}
}

// TestBrowser drives two pages of the chat in headless Chromium: each
// says something and sees what the other said, markup shown as text, and
// the first sees the second leave.
func TestBrowser(t *testing.T) {
	t.Parallel()
	browser := startBrowser(t)
	p := wstest.Start(t, bin, "-addr", "127.0.0.1:0")
	url := "http://" + p.Addr + "/?room=browser-test"
	one, cancelOne := openPage(t, browser, url, 60*time.Second)
	defer cancelOne()
	two, cancelTwo := openPage(t, browser, url, 60*time.Second)
	defer cancelTwo()

	nickOne, nickTwo := nickOn(t, one, "browser-test"), nickOn(t, two, "browser-test")
	if _, err := waitLine(one, regexp.MustCompile("^"+nickTwo+` has joined\.$`)); err != nil {
		t.Fatalf("first page: %v", err)
	}

	markup := `<img src=x onerror="document.title='pwned'"> <b>bold</b>`
	say(t, one, "hello from one "+markup)
	if _, err := waitLine(two, regexp.MustCompile("^"+regexp.QuoteMeta(nickOne+": hello from one "+markup)+"$")); err != nil {
		t.Fatalf("second page: %v", err)
	}
	say(t, two, "hello from two")
	if _, err := waitLine(one, regexp.MustCompile("^"+nickTwo+": hello from two$")); err != nil {
		t.Fatalf("first page: %v", err)
	}
	// The markup stayed text on both pages.
	for i, ctx := range []context.Context{one, two} {
		elements, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#log img, #log b").length`))
		if err != nil {
			t.Fatal(err)
		}
		title, err := chromedp.Run(ctx, chromedp.Title())
		if err != nil {
			t.Fatal(err)
		}
		if elements != 0 || title == "pwned" {
			t.Errorf("page %d: a message was read as HTML (%d elements, title %q)", i+1, elements, title)
		}
	}

	screenshot(t, one, "chat-browser.png") // while both are in the room

	// Closing the second tab closes its socket: the first sees it leave.
	cancelTwo()
	if _, err := waitLine(one, regexp.MustCompile("^"+nickTwo+` has left\.$`)); err != nil {
		t.Fatalf("first page: %v", err)
	}
}

// lines returns the page's lines, each prefixed with "missed " if the
// page marked it as missed.
func lines(ctx context.Context) ([]string, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#log li"),
		li => (li.classList.contains("missed") ? "missed " : "") + li.textContent)`))
}

// waitStatus waits until the page's status line matches re.
func waitStatus(ctx context.Context, re *regexp.Regexp) (string, error) {
	for {
		status, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("status").textContent`))
		if err != nil {
			return "", err
		}
		if re.MatchString(status) {
			return status, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("status %q does not match %s: %w", status, re, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestBrowserReconnect: two pages of the chat on two servers sharing
// their rooms, and the rooms' histories, over NATS with JetStream. The
// first page's server is killed; the page says it is reconnecting; the
// second page sends 5 messages; the killed server is started again on
// the same address; the first page reconnects by itself within 30 s
// and shows the 5 messages exactly once, in order, marked as missed.
func TestBrowserReconnect(t *testing.T) {
	t.Parallel()
	browser := startBrowser(t)
	url := natstest.StartJetStream(t, -1).URL()
	p1 := wstest.Start(t, bin, "-addr", "127.0.0.1:0", "-nats", url)
	p2 := wstest.Start(t, bin, "-addr", "127.0.0.1:0", "-nats", url)
	const page = "/?room=reconnect-test"
	one, cancelOne := openPage(t, browser, "http://"+p1.Addr+page, 90*time.Second)
	defer cancelOne()
	two, cancelTwo := openPage(t, browser, "http://"+p2.Addr+page, 90*time.Second)
	defer cancelTwo()
	nickOne, nickTwo := nickOn(t, one, "reconnect-test"), nickOn(t, two, "reconnect-test")
	if _, err := waitLine(one, regexp.MustCompile("^"+nickTwo+` has joined\.$`)); err != nil {
		t.Fatalf("first page: %v", err)
	}

	if err := p1.Cmd.Process.Kill(); err != nil { // SIGKILL: no close frame
		t.Fatal(err)
	}
	if _, err := waitStatus(one, regexp.MustCompile(`^reconnecting…`)); err != nil {
		t.Fatalf("first page, its server killed: %v", err)
	}
	for i := 1; i <= 5; i++ {
		say(t, two, fmt.Sprintf("while you were away %d", i))
	}
	if _, err := waitLine(two, regexp.MustCompile("^"+nickTwo+`: while you were away 5$`)); err != nil {
		t.Fatalf("second page: %v", err)
	}

	wstest.Start(t, bin, "-addr", p1.Addr, "-nats", url)
	restarted := time.Now()
	back, cancel := context.WithTimeout(one, 30*time.Second)
	defer cancel()
	if _, err := waitLine(back, regexp.MustCompile(`^you are back in reconnect-test as `+nickOne+`\.$`)); err != nil {
		t.Fatalf("first page, its server started again: %v", err)
	}
	t.Logf("the first page was back %v after its server started again", time.Since(restarted).Round(10*time.Millisecond))
	if _, err := waitStatus(back, regexp.MustCompile(`^connected$`)); err != nil {
		t.Fatal(err)
	}
	all, err := lines(one)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range all {
		if strings.Contains(l, "while you were away") {
			got = append(got, l)
		}
	}
	var want []string
	for i := 1; i <= 5; i++ {
		want = append(want, fmt.Sprintf("missed %s: while you were away %d", nickTwo, i))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the first page's lines of the second's messages (-want +got):\n%s\nall lines: %q", diff, all)
	}
	if _, err := waitLine(two, regexp.MustCompile("^"+nickOne+` is back\.$`)); err != nil {
		t.Fatalf("second page: %v", err)
	}
	// Live again: what the first page says reaches the second, unmarked.
	say(t, one, "and now live")
	if _, err := waitLine(two, regexp.MustCompile("^"+nickOne+`: and now live$`)); err != nil {
		t.Fatalf("second page: %v", err)
	}
	if _, err := waitLine(one, regexp.MustCompile("^"+nickOne+`: and now live$`)); err != nil {
		t.Fatalf("first page: %v", err)
	}
	screenshot(t, one, "chat-reconnect.png")
}
