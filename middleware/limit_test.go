package middleware_test

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/middleware"
	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/protocol"
)

func TestConnLimit(t *testing.T) {
	t.Parallel()
	global := middleware.ConnLimit(&middleware.ConnLimitOptions{Max: 3, RetryAfter: 2 * time.Second})
	perRoute := middleware.ConnLimit(&middleware.ConnLimitOptions{Max: 2})
	m := &mux.Mux{}
	m.Use(global)
	if err := m.Add(mux.Route{Pattern: `/small`, NoProtocol: commands, Middleware: []func(http.Handler) http.Handler{perRoute}}); err != nil {
		t.Fatal(err)
	}
	m.Handle(`/big`, commands)
	base := serve(t, m)

	refused := func(res dialResult, retryAfter string) {
		t.Helper()
		if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") != retryAfter || !strings.Contains(res.body, "too many connections") {
			t.Fatalf("over the limit: %d %q Retry-After %q, want 503 with Retry-After %s", res.status, res.body, res.header.Get("Retry-After"), retryAfter)
		}
	}
	admitted := func(res dialResult, what string) {
		t.Helper()
		if res.status != 101 {
			t.Fatalf("%s: %d %q, want 101", what, res.status, res.body)
		}
	}
	// Each bound counts exactly its connections: all up to it are
	// admitted, the next is refused.
	a := dial(t, base+"/small", nil)
	admitted(a, "first on the route")
	b := dial(t, base+"/small", nil)
	admitted(b, "second on the route")
	refused(dial(t, base+"/small", nil), "5") // the route's own limit
	c := dial(t, base+"/big", nil)
	admitted(c, "third connection overall")
	refused(dial(t, base+"/big", nil), "2") // the global limit
	// A slot frees, on both bounds, when a connection closes; no more
	// than that one.
	if err := a.conn.Close(protocol.CloseNormal, ""); err != nil {
		t.Fatal(err)
	}
	var d dialResult
	wstest.WaitFor(t, 5*time.Second, "the closed connection's slot", func() bool {
		d = dial(t, base+"/small", nil)
		return d.status == 101
	})
	refused(dial(t, base+"/big", nil), "2")   // the global bound is full again
	refused(dial(t, base+"/small", nil), "2") // and is met before the route's
	for _, res := range []dialResult{b, c, d} {
		if got := ask(t, res.conn, "still here"); got != "still here" {
			t.Errorf("echo %q", got)
		}
	}
	// Plain requests do not count.
	resp, err := http.Get("http" + strings.TrimPrefix(base, "ws") + "/big")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("plain GET at the limit: %s, want 426 from the mux", resp.Status)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	// 5 handshakes a second, 2 at once, per client; the client is named
	// by a header here so that the test can be two clients.
	m := &mux.Mux{}
	m.Use(middleware.RateLimit(&middleware.RateLimitOptions{Rate: 5, Burst: 2,
		Key: func(r *http.Request) string { return r.Header.Get("X-Client") }}))
	m.Handle(`/ws`, commands)
	base := serve(t, m)
	as := func(client string) http.Header { return http.Header{"X-Client": {client}} }

	for i := range 2 {
		if res := dial(t, base+"/ws", as("a")); res.status != 101 {
			t.Fatalf("handshake %d within the burst: %d %q", i, res.status, res.body)
		}
	}
	start := time.Now()
	res := dial(t, base+"/ws", as("a"))
	if res.status != http.StatusTooManyRequests || !strings.Contains(res.body, "too many handshakes") {
		t.Fatalf("over the limit: %d %q, want 429", res.status, res.body)
	}
	if ra, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || ra != 1 {
		t.Errorf("Retry-After %q, want 1 (a token every 200ms, rounded up)", res.header.Get("Retry-After"))
	}
	if res := dial(t, base+"/ws", as("b")); res.status != 101 {
		t.Errorf("another client: %d %q", res.status, res.body)
	}
	// The window passes: one token every 200ms.
	time.Sleep(250*time.Millisecond - time.Since(start))
	if res := dial(t, base+"/ws", as("a")); res.status != 101 {
		t.Errorf("after the window: %d %q", res.status, res.body)
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, tt := range []struct {
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"192.0.2.1:5000", nil, nil, "192.0.2.1"},
		{"192.0.2.1:5000", []string{"203.0.113.9"}, nil, "192.0.2.1"},     // not trusted: the header is ignored
		{"192.0.2.1:5000", []string{"203.0.113.9"}, proxies, "192.0.2.1"}, // peer is no proxy
		{"10.1.2.3:5000", []string{"203.0.113.9"}, proxies, "203.0.113.9"},
		{"10.1.2.3:5000", []string{"198.51.100.7, 203.0.113.9, 10.9.9.9"}, proxies, "203.0.113.9"},
		{"10.1.2.3:5000", []string{"198.51.100.7", "203.0.113.9"}, proxies, "203.0.113.9"},
		{"10.1.2.3:5000", []string{"garbage, 10.9.9.9"}, proxies, "10.9.9.9"},
		{"10.1.2.3:5000", nil, proxies, "10.1.2.3"},
		{"[::1]:5000", []string{"2001:db8::1"}, proxies, "2001:db8::1"},
		{"[::ffff:192.0.2.1]:5000", nil, nil, "192.0.2.1"},
		{"not an address", nil, nil, "not an address"},
	} {
		r, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "/", nil)
		r.RemoteAddr = tt.remote
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := middleware.ClientIP(tt.trusted...)(r); got != tt.want {
			t.Errorf("ClientIP(%v) of %s with X-Forwarded-For %q = %q, want %q", tt.trusted, tt.remote, tt.xff, got, tt.want)
		}
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	plain, trusting := &mux.Mux{}, &mux.Mux{}
	plain.Use(middleware.RequestID(&middleware.RequestIDOptions{}))
	trusting.Use(middleware.RequestID(&middleware.RequestIDOptions{TrustIncoming: true, Header: "X-Trace"}))
	plain.Handle(`/ws`, commands)
	trusting.Handle(`/ws`, commands)
	plainURL, trustingURL := serve(t, plain)+"/ws", serve(t, trusting)+"/ws"
	hex32 := func(s string) bool {
		return len(s) == 32 && strings.Trim(s, "0123456789abcdef") == ""
	}
	for _, tt := range []struct {
		name, url, header, incoming string
		want                        func(string) bool
	}{
		{"generated", plainURL, "X-Request-Id", "", hex32},
		{"incoming not trusted", plainURL, "X-Request-Id", "chosen-by-client", hex32},
		{"incoming trusted", trustingURL, "X-Trace", "lb-7f3a:42", func(s string) bool { return s == "lb-7f3a:42" }},
		{"incoming invalid", trustingURL, "X-Trace", "has spaces", hex32},
		{"incoming too long", trustingURL, "X-Trace", strings.Repeat("a", 129), hex32},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tt.incoming != "" {
				h.Set(tt.header, tt.incoming)
			}
			res := dial(t, tt.url, h)
			if res.status != 101 {
				t.Fatalf("status %d %q", res.status, res.body)
			}
			got := ask(t, res.conn, "reqid")
			if !tt.want(got) {
				t.Errorf("handler's request ID %q", got)
			}
			if hdr := res.header.Get(tt.header); hdr != got {
				t.Errorf("101 response %s %q, handler has %q", tt.header, hdr, got)
			}
		})
	}
	a, b := dial(t, plainURL, nil), dial(t, plainURL, nil)
	if ask(t, a.conn, "reqid") == ask(t, b.conn, "reqid") {
		t.Error("two connections got the same request ID")
	}
}
