package middleware_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/wsmap/wsmap/middleware"
	"github.com/wsmap/wsmap/mux"
)

func TestOrigin(t *testing.T) {
	t.Parallel()
	newMux := func(mw ...func(http.Handler) http.Handler) *mux.Mux {
		m := &mux.Mux{}
		m.Use(mw...)
		m.Handle(`/ws`, commands)
		return m
	}
	allow := middleware.Origin(&middleware.OriginOptions{Allow: []string{
		"https://app.example.com", "*.trusted.org", "http://localhost:3000", "null",
	}})
	strict := middleware.Origin(&middleware.OriginOptions{RequireOrigin: true})

	// The chi router mounts the mux at /api, with no origin middleware:
	// the mux's same-origin default must hold there too.
	r := chi.NewRouter()
	r.Mount("/api", newMux())

	servers := map[string]string{
		"default": serve(t, newMux()),
		"allow":   serve(t, newMux(allow)),
		"strict":  serve(t, newMux(strict)),
		"chi":     serve(t, r),
	}
	paths := map[string]string{"chi": "/api/ws"}

	for _, tt := range []struct {
		server, origin string // origin "self" is the server's own
		wantStatus     int
	}{
		{"default", "", 101},
		{"default", "self", 101},
		{"default", "https://evil.example", 403},
		{"default", "null", 403},
		{"chi", "self", 101},
		{"chi", "", 101},
		{"chi", "https://evil.example", 403},
		{"allow", "", 101},
		{"allow", "self", 101},
		{"allow", "https://app.example.com", 101},
		{"allow", "HTTPS://APP.EXAMPLE.COM", 101},
		{"allow", "http://app.example.com", 403},       // scheme differs
		{"allow", "https://app.example.com:8443", 403}, // port differs
		{"allow", "https://a.trusted.org", 101},
		{"allow", "http://x.y.trusted.org", 101},
		{"allow", "https://trusted.org", 403}, // the wildcard needs a subdomain
		{"allow", "https://eviltrusted.org", 403},
		{"allow", "https://trusted.org.evil.example", 403},
		{"allow", "http://localhost:3000", 101},
		{"allow", "http://localhost:3001", 403},
		{"allow", "null", 101},
		{"allow", "not a url", 403},
		{"strict", "", 403},
		{"strict", "self", 101},
		{"strict", "https://evil.example", 403},
	} {
		t.Run(tt.server+"/"+tt.origin, func(t *testing.T) {
			t.Parallel()
			base := servers[tt.server]
			path := paths[tt.server]
			if path == "" {
				path = "/ws"
			}
			h := http.Header{}
			switch tt.origin {
			case "":
			case "self":
				h.Set("Origin", "http"+strings.TrimPrefix(base, "ws"))
			default:
				h.Set("Origin", tt.origin)
			}
			res := dial(t, base+path, h)
			if res.status != tt.wantStatus {
				t.Fatalf("status %d %q, want %d", res.status, res.body, tt.wantStatus)
			}
			if res.status == 101 {
				if got := ask(t, res.conn, "hi"); got != "hi" {
					t.Errorf("echo: %q", got)
				}
				return
			}
			if tt.origin != "" && !strings.Contains(res.body, "not allowed") {
				t.Errorf("reason %q does not say the origin is not allowed", res.body)
			}
			if tt.origin == "" && !strings.Contains(res.body, "Origin header is required") {
				t.Errorf("reason %q does not ask for an Origin", res.body)
			}
		})
	}
}

func TestOriginOptionErrors(t *testing.T) {
	t.Parallel()
	// made returns what Origin panicked with, if it did.
	made := func(entry string) (panicked any) {
		defer func() { panicked = recover() }()
		middleware.Origin(&middleware.OriginOptions{Allow: []string{entry}})
		return nil
	}
	for _, bad := range []string{"https://", "://x.org", "x.org/path", "*.", "a*b.org", "https://x.org?q", "*" + "x.org", "user@x.org"} {
		err, _ := made(bad).(error)
		if err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("Allow %q: panicked with %v, want an error naming the entry", bad, err)
		}
	}
	for _, good := range []string{"*", "null", "x.org", "x.org:81", "*.x.org", "https://*.x.org", "http://[::1]:3000"} {
		if p := made(good); p != nil {
			t.Errorf("Allow %q: %v", good, p)
		}
	}
}

func TestOriginLeavesPlainRequests(t *testing.T) {
	t.Parallel()
	h := middleware.Origin(&middleware.OriginOptions{RequireOrigin: true})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("page"))
	}))
	base := serve(t, h)
	req, _ := http.NewRequest(http.MethodGet, "http"+strings.TrimPrefix(base, "ws")+"/", nil)
	req.Header.Set("Origin", "https://elsewhere.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("plain cross-origin GET: %s, want 200 (CORS is not this layer's job)", resp.Status)
	}
}
