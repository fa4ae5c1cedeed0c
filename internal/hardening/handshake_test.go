package hardening

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/service"
)

const goodKey = "dGhlIHNhbXBsZSBub25jZQ=="

// request builds a raw opening handshake for target: a valid one, minus
// the headers named in drop, plus the lines in add.
func request(target string, drop []string, add ...string) string {
	return requestLine("GET "+target+" HTTP/1.1", drop, add...)
}

func requestLine(line string, drop []string, add ...string) string {
	headers := []string{
		"Host: HOST",
		"Upgrade: websocket",
		"Connection: Upgrade",
		"Sec-WebSocket-Key: " + goodKey,
		"Sec-WebSocket-Version: 13",
	}
	var b strings.Builder
	b.WriteString(line + "\r\n")
	for _, h := range headers {
		name, _, _ := strings.Cut(h, ":")
		dropped := false
		for _, d := range drop {
			dropped = dropped || strings.EqualFold(d, name)
		}
		if !dropped {
			b.WriteString(h + "\r\n")
		}
	}
	for _, h := range add {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// protocols returns a Sec-WebSocket-Protocol line offering n protocols.
func protocols(n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("p%d", i)
	}
	return "Sec-WebSocket-Protocol: " + strings.Join(names, ", ")
}

// exchange writes raw (with HOST replaced by the address) on a new
// connection and reads the response, within 5 seconds. The connection is
// returned open, positioned after the response's headers.
func exchange(t *testing.T, addr, raw string) (*http.Response, *bufio.Reader, net.Conn) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(nc, strings.ReplaceAll(raw, "HOST", addr)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no HTTP response: %v", err)
	}
	return resp, br, nc
}

// TestHostileHandshakes sends malformed, oversized and malicious opening
// handshakes. Each gets the status listed, with a reason in the body,
// without reaching a handler, and the server serves a good handshake
// right after.
func TestHostileHandshakes(t *testing.T) {
	t.Parallel()
	tg := startTarget(t, service.Options{}, 2*time.Second)
	key15 := "AAAAAAAAAAAAAAAAAAAA" // base64 of 15 bytes
	tests := []struct {
		name   string
		raw    string
		status int
		reason string // a substring of the body, when the reason is wsmap's
	}{
		{"valid, for comparison", request("/echo", nil), 101, ""},

		// Missing headers.
		{"no Upgrade", request("/echo", []string{"Upgrade"}), 426, "requires a WebSocket upgrade"},
		{"no Connection", request("/echo", []string{"Connection"}), 400, "Connection header"},
		{"no Sec-WebSocket-Key", request("/echo", []string{"Sec-WebSocket-Key"}), 400, "Sec-WebSocket-Key"},
		{"no Sec-WebSocket-Version", request("/echo", []string{"Sec-WebSocket-Version"}), 426, "Sec-WebSocket-Version is missing"},
		{"no Host", request("/echo", []string{"Host"}), 400, ""},

		// Headers that must appear once.
		{"two keys", request("/echo", nil, "Sec-WebSocket-Key: "+goodKey), 400, "Sec-WebSocket-Key"},
		{"two versions", request("/echo", nil, "Sec-WebSocket-Version: 13"), 400, "Sec-WebSocket-Version must appear once"},
		{"two Hosts", request("/echo", nil, "Host: other.example"), 400, ""},

		// Oversized.
		{"100 KiB header value", request("/echo", nil, "X-Big: "+strings.Repeat("a", 100<<10)), 431, ""},
		{"2,000 headers", request("/echo", nil, strings.Repeat("X-Many: 1234567890123456789012345678901234\r\n", 2000)+"X-Last: 1"), 431, ""},
		{"10,000 protocols offered", request("/echo", nil, protocols(10000)), 400, "offers more than 128 subprotocols"},
		{"129 protocols offered", request("/echo", nil, protocols(129)), 400, "offers more than 128 subprotocols"},
		{"100,000 protocols offered", request("/echo", nil, protocols(100000)), 431, ""},

		// Invalid keys.
		{"key not base64", request("/echo", []string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key: not*base64*at*all!!!!!!"), 400, "Sec-WebSocket-Key"},
		{"key of 15 bytes", request("/echo", []string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key: "+key15), 400, "Sec-WebSocket-Key"},
		{"key of 17 bytes", request("/echo", []string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA="), 400, "Sec-WebSocket-Key"},
		{"empty key", request("/echo", []string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key: "), 400, "Sec-WebSocket-Key"},

		// Protocol names that are not tokens.
		{"quoted protocol", request("/echo", nil, `Sec-WebSocket-Protocol: "echo"`), 400, "not a token"},
		{"space in a protocol", request("/echo", nil, "Sec-WebSocket-Protocol: echo v2"), 400, "not a token"},
		{"non-ASCII protocol", request("/echo", nil, "Sec-WebSocket-Protocol: éécho"), 400, "not a token"},
		{"parameter on a protocol", request("/echo", nil, "Sec-WebSocket-Protocol: echo;q=1"), 400, "not a token"},

		// Header injection.
		{"bare CR in a value", request("/echo", nil, "Sec-WebSocket-Protocol: echo\rSet-Cookie: injected=1"), 400, ""},
		// A bare LF ends the line (RFC 9112 section 2.2 lets a server
		// accept it): the rest is a request header of its own, which is
		// never reflected in the response.
		{"bare LF in a value", request("/echo", nil, "Sec-WebSocket-Protocol: echo\nSet-Cookie: injected=1"), 101, ""},
		{"folded line", request("/echo", nil, "Sec-WebSocket-Protocol: echo,\r\n Set-Cookie: injected=1"), 400, ""},
		{"NUL in a value", request("/echo", nil, "Sec-WebSocket-Protocol: echo\x00"), 400, ""},
		{"encoded CRLF in the path", request("/echo%0d%0aSet-Cookie:%20injected=1", nil), 404, ""},

		// Request targets.
		{"absolute http URI", request("http://HOST/echo", nil), 101, ""},
		{"absolute ws URI", request("ws://HOST/echo", nil), 400, "request target"},
		{"asterisk", request("*", nil), 404, ""},
		{"authority form", request("HOST", nil), 400, ""},
		{"absolute URI without a host", request("http:///echo", nil), 400, ""},

		// HTTP versions and methods.
		{"HTTP/1.0", requestLine("GET /echo HTTP/1.0", nil), 400, "requires HTTP/1.1"},
		{"no version (HTTP/0.9)", "GET /echo\r\n\r\n", 400, ""},
		{"POST", requestLine("POST /echo HTTP/1.1", nil, "Content-Length: 0"), 405, "must use GET"},
		{"HEAD", requestLine("HEAD /echo HTTP/1.1", nil), 405, ""},

		// Not HTTP at all.
		{"TLS ClientHello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + strings.Repeat("\x00", 40) + "\r\n\r\n", 400, ""},
		{"binary garbage", "\x00\x01\x02\x03\xff\xfe\r\n\r\n", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The previous case's health check ends with the client's
			// close, which the server answers just before its handler
			// returns.
			if !wstest.Settle(5*time.Second, func() bool { return tg.handlers.Load() == 0 }) {
				t.Fatalf("%d handlers still running from the previous case", tg.handlers.Load())
			}
			resp, _, nc := exchange(t, tg.addr, tt.raw)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %s, want %d", resp.Status, tt.status)
			}
			if v := resp.Header.Values("Set-Cookie"); len(v) > 0 {
				t.Errorf("response carries Set-Cookie %q from the request", v)
			}
			if tt.status == 101 {
				if got, want := resp.Header.Get("Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
					t.Errorf("Sec-WebSocket-Accept %q, want %q", got, want)
				}
				nc.Close()
				if !wstest.Settle(5*time.Second, func() bool { return tg.handlers.Load() == 0 }) {
					t.Fatal("the handler did not return after the client went away")
				}
				return
			}
			var body []byte
			if !strings.HasPrefix(tt.raw, "HEAD") { // a HEAD response has no body
				body, _ = io.ReadAll(io.LimitReader(resp.Body, 4<<10))
				if len(strings.TrimSpace(string(body))) == 0 {
					t.Errorf("%s with an empty body: no reason given", resp.Status)
				}
			}
			if !strings.Contains(string(body), tt.reason) {
				t.Errorf("body %q, want it to contain %q", body, tt.reason)
			}
			if n := tg.handlers.Load(); n != 0 {
				t.Errorf("%d handlers running after a refused handshake", n)
			}
			tg.healthy(t)
		})
	}
}

// TestPipelinedBytesAfterHandshake sends bytes right behind a valid
// handshake, which a client must not do. They are read as the first
// frames of the connection: garbage closes it with 1002.
func TestPipelinedBytesAfterHandshake(t *testing.T) {
	t.Parallel()
	tg := startTarget(t, service.Options{}, 2*time.Second)
	for _, tt := range []struct{ name, after string }{
		{"garbage", "\x47\x41\x52\x42\x41\x47\x45 after the request"},
		{"a second request", request("/echo", nil)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, br, nc := exchange(t, tg.addr, request("/echo", nil)+tt.after)
			if resp.StatusCode != 101 {
				t.Fatalf("status %s, want 101", resp.Status)
			}
			c := wstest.NewConn(nc, br)
			f, err := c.ExpectClose(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if f.CloseCode() != 1002 {
				t.Errorf("closed with %d %q, want 1002", f.CloseCode(), f.CloseReason())
			}
			if err := c.ExpectEOF(5 * time.Second); err != nil {
				t.Error(err)
			}
			tg.healthy(t)
		})
	}
}

// TestSlowloris trickles handshakes a byte at a time. The handshake
// timeout cuts every one off; none reaches a handler, and the server
// serves others meanwhile.
func TestSlowloris(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	tg := startTarget(t, service.Options{}, timeout)
	const clients = 50
	raw := strings.ReplaceAll(request("/echo", nil, strings.Repeat("X-Slow: 1\r\n", 100)+"X-End: 1"), "HOST", tg.addr)
	type cut struct {
		after time.Duration
		sent  int
		err   error
	}
	cuts := make(chan cut, clients)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			nc, err := net.DialTimeout("tcp", tg.addr, 5*time.Second)
			if err != nil {
				cuts <- cut{err: err}
				return
			}
			defer nc.Close()
			start := time.Now()
			// Write one byte every 20 ms (the whole request would take
			// about 30 s) until the server closes the connection.
			sent := 0
			_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			closed := make(chan struct{})
			go func() {
				defer close(closed)
				_, _ = io.Copy(io.Discard, nc)
			}()
			for sent < len(raw) {
				select {
				case <-closed:
					cuts <- cut{after: time.Since(start), sent: sent}
					return
				case <-time.After(20 * time.Millisecond):
				}
				if _, err := nc.Write([]byte{raw[sent]}); err != nil {
					<-closed
					cuts <- cut{after: time.Since(start), sent: sent}
					return
				}
				sent++
			}
			cuts <- cut{err: fmt.Errorf("the whole request went through in %v", time.Since(start))}
		})
	}
	// While they trickle, nothing is served to them and others get
	// through.
	time.Sleep(timeout / 2)
	if n := tg.handlers.Load(); n != 0 {
		t.Errorf("%d handlers running for trickled handshakes", n)
	}
	tg.healthy(t)
	wg.Wait()
	close(cuts)
	for c := range cuts {
		if c.err != nil {
			t.Error(c.err)
			continue
		}
		if c.after < timeout-100*time.Millisecond || c.after > timeout+3*time.Second {
			t.Errorf("cut off after %v (%d bytes), want about %v", c.after, c.sent, timeout)
		}
	}
	if n := tg.handlers.Load(); n != 0 {
		t.Errorf("%d handlers running after the slowloris", n)
	}
	tg.healthy(t)
}
