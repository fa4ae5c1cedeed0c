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

// TestBrowser drives two pages of the chat in headless Chromium: each
// says something and sees what the other said, markup shown as text, and
// the first sees the second leave.
func TestBrowser(t *testing.T) {
	t.Parallel()
	exe := chromium(t)
	p := wstest.Start(t, bin, "-addr", "127.0.0.1:0")
	url := "http://" + p.Addr + "/?room=browser-test"

	profile, err := os.MkdirTemp("", "wsmap-chromium")
	if err != nil {
		t.Fatal(err)
	}
	defer removeAll(profile)
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
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	// The first Run starts the browser and must not carry a timeout; the
	// steps after it are bounded through contexts derived from it.
	if _, err := chromedp.Run(browser, chromedp.Title()); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	tab := func() (context.Context, context.CancelFunc) {
		tabCtx, cancelTab := chromedp.NewContext(browser)
		if err := chromedp.Do(tabCtx, chromedp.Navigate(url)); err != nil {
			t.Fatalf("opening %s: %v", url, err)
		}
		ctx, cancel := context.WithTimeout(tabCtx, 60*time.Second)
		if err := chromedp.Do(ctx, chromedp.WaitEnabled(chromedp.CSS("#msg"))); err != nil {
			t.Fatalf("page did not connect: %v", err)
		}
		return ctx, func() { cancel(); cancelTab() }
	}
	one, cancelOne := tab()
	defer cancelOne()
	two, cancelTwo := tab()
	defer cancelTwo()

	nick := func(ctx context.Context) string {
		line, err := waitLine(ctx, regexp.MustCompile(`^you are user-\d{4} in browser-test\.$`))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Fields(line)[2]
	}
	nickOne, nickTwo := nick(one), nick(two)
	if _, err := waitLine(one, regexp.MustCompile("^"+nickTwo+` has joined\.$`)); err != nil {
		t.Fatalf("first page: %v", err)
	}

	say := func(ctx context.Context, text string) {
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#msg"), text), chromedp.Click(chromedp.CSS("#send"))); err != nil {
			t.Fatal(err)
		}
	}
	markup := `<img src=x onerror="document.title='pwned'"> <b>bold</b>`
	say(one, "hello from one "+markup)
	if _, err := waitLine(two, regexp.MustCompile("^"+regexp.QuoteMeta(nickOne+": hello from one "+markup)+"$")); err != nil {
		t.Fatalf("second page: %v", err)
	}
	say(two, "hello from two")
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

	// The screenshot, while both are in the room.
	png, err := chromedp.Run(one, chromedp.FullScreenshot(100)) // quality 100 gives a PNG
	if err != nil {
		t.Fatal(err)
	}
	shot := artifact(t, "chat-browser.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)

	// Closing the second tab closes its socket: the first sees it leave.
	cancelTwo()
	if _, err := waitLine(one, regexp.MustCompile("^"+nickTwo+` has left\.$`)); err != nil {
		t.Fatalf("first page: %v", err)
	}
}
