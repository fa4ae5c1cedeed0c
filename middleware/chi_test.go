package middleware_test

import (
	"io"
	"log"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"
	"golang.org/x/time/rate"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/middleware"
	"github.com/wsmap/wsmap/mux"
)

// TestBehindChiMiddleware stacks every layer of this package behind chi's
// common middleware and checks that the handshake still hijacks and each
// layer still does its job.
func TestBehindChiMiddleware(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	limit := middleware.ConnLimit(&middleware.ConnLimitOptions{Max: 1})
	m := &mux.Mux{}
	m.Use(
		middleware.RequestID(&middleware.RequestIDOptions{}),
		middleware.Origin(&middleware.OriginOptions{Allow: []string{"https://app.example.com"}}),
		limit,
		middleware.RateLimit(&middleware.RateLimitOptions{Rate: 100, Burst: 100}),
		middleware.Auth(&middleware.AuthOptions{Verify: verify}),
	)
	m.UseConn(
		middleware.Log(slog.New(slog.NewJSONHandler(&logs, nil))),
		middleware.Recover(middleware.LogPanics(slog.New(slog.NewJSONHandler(&logs, nil)))),
		middleware.MessageRate(&middleware.MessageRateOptions{Rate: rate.Every(time.Millisecond), Burst: 100}),
	)
	m.Handle(`/rooms/(?P<room>[a-z]+)`, commands)

	r := chi.NewRouter()
	r.Use(chimw.RequestID)
	//lint:ignore SA1019 RealIP is deprecated but still common in front of WebSocket routes; hijacking must survive it.
	r.Use(chimw.RealIP)
	r.Use(chimw.RequestLogger(&chimw.DefaultLogFormatter{Logger: log.New(io.Discard, "", 0), NoColor: true}))
	r.Use(chimw.Recoverer)
	r.Use(chimw.Compress(5))
	r.Mount("/ws", m)
	base := serve(t, r)

	// Refusals come through chi's writers intact. Auth stands behind the
	// limit, so its refusal is checked while the limit's one slot is free.
	for _, tt := range []struct {
		header http.Header
		status int
		reason string
	}{
		{http.Header{"Origin": {"https://evil.example"}, "Authorization": {"Bearer good-ann"}}, 403, "not allowed"},
		{http.Header{"Accept-Encoding": {"gzip"}}, 401, "missing credentials"},
	} {
		res := dial(t, base+"/ws/rooms/lobby", tt.header)
		if res.status != tt.status || !strings.Contains(res.body, tt.reason) {
			t.Errorf("%v: %d %q, want %d %q", tt.header, res.status, res.body, tt.status, tt.reason)
		}
	}

	h := http.Header{
		"Authorization":   {"Bearer good-ann"},
		"Origin":          {"https://app.example.com"},
		"Accept-Encoding": {"gzip"},
	}
	res := dial(t, base+"/ws/rooms/lobby", h)
	if res.status != 101 {
		t.Fatalf("handshake behind chi: %d %q", res.status, res.body)
	}
	if got := ask(t, res.conn, "whoami"); got != "user:ann true" {
		t.Errorf("identity %q", got)
	}
	id := ask(t, res.conn, "reqid")
	if res.header.Get("X-Request-Id") != id || len(id) != 32 {
		t.Errorf("request ID %q, 101 header %q", id, res.header.Get("X-Request-Id"))
	}
	// The limit of one counts the connection behind chi's writers.
	if over := dial(t, base+"/ws/rooms/lobby", h); over.status != http.StatusServiceUnavailable {
		t.Errorf("second connection with a limit of one: %d %q, want 503", over.status, over.body)
	}
	if err := res.conn.Close(1000, ""); err != nil {
		t.Fatal(err)
	}
	// The closed connection's slot frees when its handler returns, which
	// may be after Close has returned (see ConnLimit); the connection
	// admitted then keeps the slot until the test ends.
	wstest.WaitFor(t, 5*time.Second, "the closed connection's slot", func() bool {
		return dial(t, base+"/ws/rooms/lobby", h).status == 101
	})
	recs := logs.connRecords(t, id)
	if recs[0]["route"] != `/ws/rooms/(?P<room>[a-z]+)` {
		t.Errorf("logged route %v, want the mount point and the mux route", recs[0]["route"])
	}

}
