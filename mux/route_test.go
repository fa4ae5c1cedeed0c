package mux

import (
	"context"
	"errors"
	"net/http"
	"regexp/syntax"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	h := fixed("")
	tests := []struct {
		name    string
		table   []Route
		kind    error
		wantMsg string
	}{
		{"invalid pattern", []Route{{Pattern: `/ok`, NoProtocol: h}, {Pattern: `/chat/([a-z]+`, NoProtocol: h}}, ErrInvalidPattern,
			`mux: route "/chat/([a-z]+" (table entry 1): invalid pattern: missing closing ): "/chat/([a-z]+"`},
		{"invalid pattern with offset", []Route{{Pattern: `/a/x**`, NoProtocol: h}}, ErrInvalidPattern,
			`mux: route "/a/x**" (table entry 0), offset 4: invalid pattern: invalid nested repetition operator: "**"`},
		{"invalid escape", []Route{{Pattern: `/a\q`, NoProtocol: h}}, ErrInvalidPattern,
			`mux: route "/a\\q" (table entry 0), offset 2: invalid pattern: invalid escape sequence: "\\q"`},
		{"duplicate pattern", []Route{{Pattern: `/a`, NoProtocol: h}, {Pattern: `/b`, NoProtocol: h}, {Pattern: `/a`, NoProtocol: h}}, ErrDuplicatePattern,
			`mux: route "/a" (table entry 2): duplicate pattern: already registered (table entry 0)`},
		{"chi-style parameter", []Route{{Pattern: `/calc/{session}`, NoProtocol: h}}, ErrInvalidPattern,
			`mux: route "/calc/{session}" (table entry 0), offset 6: invalid pattern: "{session}" is a chi-style parameter, which a regular expression reads as literal text; write (?P<session>[^/]+)`},
		{"chi-style parameter with an expression", []Route{{Pattern: `/u/{id:[0-9]{1,3}}/x`, NoProtocol: h}}, ErrInvalidPattern,
			`mux: route "/u/{id:[0-9]{1,3}}/x" (table entry 0), offset 3: invalid pattern: "{id:[0-9]{1,3}}" is a chi-style parameter, which a regular expression reads as literal text; write (?P<id>[0-9]{1,3})`},
		{"ServeMux-style wildcard", []Route{{Pattern: `/files/{path...}`, NoProtocol: h}}, ErrInvalidPattern,
			`mux: route "/files/{path...}" (table entry 0), offset 7: invalid pattern: "{path...}" is a ServeMux-style wildcard, which a regular expression reads as literal text; write (?P<path>.*)`},
		{"ServeMux-style end anchor", []Route{{Pattern: `/files/{$}`, NoProtocol: h}}, ErrInvalidPattern,
			`mux: route "/files/{$}" (table entry 0), offset 7: invalid pattern: "{$}" is a ServeMux-style end anchor, which a regular expression reads as literal text; a pattern matches the whole path already, so drop it`},
		{"no leading slash", []Route{{Pattern: `echo`, NoProtocol: h}}, ErrInvalidPattern,
			`mux: route "echo" (table entry 0), offset 0: invalid pattern: it cannot match a path, which always starts with "/"; write "/echo"`},
		{"no leading slash, anchored", []Route{{Pattern: `^chat/(?P<room>[a-z]+)$`, NoProtocol: h}}, ErrInvalidPattern,
			`mux: route "^chat/(?P<room>[a-z]+)$" (table entry 0), offset 0: invalid pattern: it cannot match a path, which always starts with "/"; write "^/chat/(?P<room>[a-z]+)$"`},
		{"empty pattern", []Route{{Pattern: ``, NoProtocol: h}}, ErrInvalidPattern,
			`mux: route "" (table entry 0), offset 0: invalid pattern: it cannot match a path, which always starts with "/"; write "/"`},
		{"no alternative with a leading slash", []Route{{Pattern: `(a|b)/c`, NoProtocol: h}}, ErrInvalidPattern,
			`mux: route "(a|b)/c" (table entry 0), offset 0: invalid pattern: it cannot match a path, which always starts with "/"; write "/(a|b)/c"`},
		{"nil HandlerFunc for a protocol", []Route{{Pattern: `/a`, Protocols: []Protocol{{Name: "chat", Handler: service.HandlerFunc(nil)}}}}, ErrNoHandler,
			`mux: route "/a" (table entry 0): missing handler: subprotocol "chat" has a nil handler`},
		{"nil HandlerFunc for no protocol", []Route{{Pattern: `/a`, NoProtocol: service.HandlerFunc(nil)}}, ErrNoHandler,
			`mux: route "/a" (table entry 0): missing handler: NoProtocol is a nil service.HandlerFunc`},
		{"nil pointer for no protocol", []Route{{Pattern: `/a`, NoProtocol: (*tagged)(nil)}}, ErrNoHandler,
			`mux: route "/a" (table entry 0): missing handler: NoProtocol is a nil *mux.tagged`},
		{"nil HTTP handler", []Route{{Pattern: `/a`, HTTP: http.HandlerFunc(nil)}}, ErrNoHandler,
			`mux: route "/a" (table entry 0): missing handler: HTTP is a nil http.HandlerFunc`},
		{"nil middleware", []Route{{Pattern: `/a`, NoProtocol: h, Middleware: []func(http.Handler) http.Handler{nil}}}, ErrNoHandler,
			`mux: route "/a" (table entry 0): missing handler: Middleware entry 0 is nil`},
		{"nil connection middleware", []Route{{Pattern: `/a`, NoProtocol: h, ConnMiddleware: []func(service.Handler) service.Handler{recoverNothing, nil}}}, ErrNoHandler,
			`mux: route "/a" (table entry 0): missing handler: ConnMiddleware entry 1 is nil`},
		{"anchored duplicate", []Route{{Pattern: `/a`, NoProtocol: h}, {Pattern: `^/a$`, NoProtocol: h}}, ErrDuplicatePattern,
			`mux: route "^/a$" (table entry 1): duplicate pattern: already registered as "/a", the same once anchored (table entry 0)`},
		{"anchored duplicate, the other way", []Route{{Pattern: `^/chat/(?P<room>[a-z]+)$`, NoProtocol: h}, {Pattern: `/chat/(?P<room>[a-z]+)`, NoProtocol: h}}, ErrDuplicatePattern,
			`mux: route "/chat/(?P<room>[a-z]+)" (table entry 1): duplicate pattern: already registered as "^/chat/(?P<room>[a-z]+)$", the same once anchored (table entry 0)`},
		{"duplicate capture name", []Route{{Pattern: `/(?P<id>\d+)/(?P<id>\d+)`, NoProtocol: h}}, ErrInvalidPattern,
			`mux: route "/(?P<id>\\d+)/(?P<id>\\d+)" (table entry 0), offset 1: invalid pattern: capture name "id" used twice`},
		{"invalid protocol", []Route{{Pattern: `/a`, Protocols: []Protocol{{Name: "chat", Handler: h}, {Name: "chat v2", Handler: h}}}}, ErrInvalidProtocol,
			`mux: route "/a" (table entry 0): invalid subprotocol name: "chat v2" (entry 1) is not an RFC 7230 token`},
		{"empty protocol", []Route{{Pattern: `/a`, Protocols: []Protocol{{Name: "", Handler: h}}}}, ErrInvalidProtocol,
			`mux: route "/a" (table entry 0): invalid subprotocol name: "" (entry 0) is not an RFC 7230 token`},
		{"duplicate protocol", []Route{{Pattern: `/a`, Protocols: []Protocol{{Name: "chat", Handler: h}, {Name: "chat", Handler: h}}}}, ErrDuplicateProtocol,
			`mux: route "/a" (table entry 0): subprotocol listed twice: "chat"`},
		{"nil protocol handler", []Route{{Pattern: `/a`, Protocols: []Protocol{{Name: "chat", Handler: nil}}}}, ErrNoHandler,
			`mux: route "/a" (table entry 0): missing handler: subprotocol "chat" has a nil handler`},
		{"no handler at all", []Route{{Pattern: `/a`}}, ErrNoHandler,
			`mux: route "/a" (table entry 0): missing handler: the route serves no subprotocol, no client without one, and no plain request`},
		{"fallback without NoProtocol", []Route{{Pattern: `/a`, Protocols: []Protocol{{Name: "chat", Handler: h}}, FallbackNoMatch: true}}, ErrNoHandler,
			`mux: route "/a" (table entry 0): missing handler: FallbackNoMatch needs a NoProtocol handler`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := New(tt.table...)
			if err == nil {
				t.Fatalf("New = %v, want error", m)
			}
			var re *RouteError
			if !errors.As(err, &re) || !errors.Is(err, tt.kind) {
				t.Errorf("error %v is not a *RouteError wrapping %v", err, tt.kind)
			}
			if diff := cmp.Diff(tt.wantMsg, err.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			// The panicking form panics with the same message.
			func() {
				defer func() {
					r := recover()
					perr, _ := r.(error)
					if perr == nil || perr.Error() != tt.wantMsg {
						t.Errorf("MustNew panicked with %v, want %q", r, tt.wantMsg)
					}
				}()
				MustNew(tt.table...)
			}()
		})
	}
}

// recoverNothing is connection middleware that adds nothing.
func recoverNothing(next service.Handler) service.Handler { return next }

// TestHandleRefusesNil checks that Handle, on a Mux or a Group, and the
// middleware methods refuse a nil when it is given, not at the first
// connection.
func TestHandleRefusesNil(t *testing.T) {
	t.Parallel()
	m := &Mux{}
	tests := []struct {
		name string
		call func()
		want string
	}{
		{"Handle", func() { m.Handle(`/a`, nil) }, `missing handler: Handle was given a nil handler`},
		{"Handle, nil HandlerFunc", func() { m.Handle(`/a`, service.HandlerFunc(nil), "chat") }, `missing handler: Handle was given a nil handler`},
		{"Group.Handle", func() { m.Group().Handle(`/b`, nil) }, `missing handler: Handle was given a nil handler`},
		{"Use", func() { m.Use(nil) }, `mux: Use given a nil middleware (argument 0)`},
		{"UseConn", func() { m.UseConn(recoverNothing, nil) }, `mux: UseConn given a nil middleware (argument 1)`},
		{"Group", func() { m.Group(nil) }, `mux: Group given a nil middleware (argument 0)`},
		{"Group.UseConn", func() { m.Group().UseConn(nil) }, `mux: UseConn given a nil middleware (argument 0)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				var msg string
				switch r := r.(type) {
				case error:
					msg = r.Error()
					if strings.HasPrefix(tt.name, "Handle") || strings.HasPrefix(tt.name, "Group.Handle") {
						if !errors.Is(r, ErrNoHandler) {
							t.Errorf("%v does not wrap ErrNoHandler", r)
						}
					}
				case string:
					msg = r
				}
				if !strings.Contains(msg, tt.want) {
					t.Errorf("panicked with %v, want %q", r, tt.want)
				}
			}()
			tt.call()
		})
	}
	if n := len(m.Routes()); n != 0 {
		t.Errorf("%d routes registered, want none", n)
	}
}

func TestRegistrationNamesCaller(t *testing.T) {
	t.Parallel()
	m := &Mux{}
	m.Handle(`/a`, fixed(""))
	err := m.Add(Route{Pattern: `/a`, NoProtocol: fixed("")})
	if err == nil || !strings.Contains(err.Error(), "route_test.go:") || !errors.Is(err, ErrDuplicatePattern) {
		t.Fatalf("Add duplicate: %v, want the file and line of both registrations", err)
	}
	if strings.Count(err.Error(), "route_test.go:") != 2 {
		t.Errorf("error %q should name both registrations", err)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(error).Error(), "invalid subprotocol name") {
			t.Errorf("Handle with a bad protocol panicked with %v", r)
		}
	}()
	m.Handle(`/b`, fixed(""), "bad name")
}

func TestLiteralPrefix(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		pattern  string
		prefix   string
		complete bool
	}{
		{`/echo`, "/echo", true},
		{`^/echo$`, "/echo", true},
		{`/svc12/(?P<id>[0-9]+)`, "/svc12/", false},
		{`/chat/(?P<room>[a-z]+)`, "/chat/", false},
		{`(/a)/b`, "/a/b", true},
		{`/a|/b`, "/", false},
		{`(?i)/echo`, "", false},
		{`.*`, "", false},
		{``, "", true},
		{`/x\.y`, "/x.y", true},
	} {
		re, err := syntax.Parse(tt.pattern, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		p, complete := literalPrefix(re.Simplify())
		if p != tt.prefix || complete != tt.complete {
			t.Errorf("literalPrefix(%q) = %q, %v; want %q, %v", tt.pattern, p, complete, tt.prefix, tt.complete)
		}
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	m := MustNew(racketTable()...)
	got := m.Routes()
	if len(got) != 6 {
		t.Fatalf("%d routes", len(got))
	}
	want := RouteInfo{Pattern: `^/echo$`, Protocols: []string{"echo.v2", "echo.v1"}, NoProtocol: true}
	if diff := cmp.Diff(want, got[0]); diff != "" {
		t.Errorf("route 0 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"room"}, got[1].Params); diff != "" {
		t.Errorf("route 1 params (-want +got):\n%s", diff)
	}
	var b strings.Builder
	if err := m.WriteRoutes(&b); err != nil {
		t.Fatal(err)
	}
	wantTable := `PATTERN                 SUBPROTOCOLS               POLICY        HTTP
^/echo$                 echo.v2 echo.v1 -          client order  no
/chat/(?P<room>[a-z]+)  -                          client order  no
/server-order           echo.v1 echo.v2            server order  no
/fallback               echo.v1 - (fallback to -)  client order  no
/page                   -                          client order  yes
/chat/(?P<room>.*)      -                          client order  no
`
	if diff := cmp.Diff(wantTable, b.String()); diff != "" {
		t.Errorf("WriteRoutes (-want +got):\n%s", diff)
	}
}

// FuzzNegotiate checks, for offers parsed from arbitrary header lines,
// that a route never answers with a protocol the client did not offer and
// always picks the handler registered for the protocol it answers with.
func FuzzNegotiate(f *testing.F) {
	f.Add("echo.v1, echo.v2", "", false, false)
	f.Add("x", "echo.v2", true, true)
	f.Add("", "", false, true)
	f.Add("ECHO.V1,, echo.v2", "a b", false, false)
	handlers := map[string]service.Handler{"echo.v1": &tagged{"1"}, "echo.v2": &tagged{"2"}, "": &tagged{"none"}}
	f.Fuzz(func(t *testing.T, line1, line2 string, serverOrder, fallback bool) {
		offer, err := protocol.ParseOffer([]string{line1, line2})
		if err != nil {
			return
		}
		r := Route{Pattern: "/", Protocols: []Protocol{{Name: "echo.v1", Handler: handlers["echo.v1"]}, {Name: "echo.v2", Handler: handlers["echo.v2"]}},
			NoProtocol: handlers[""], FallbackNoMatch: fallback}
		if serverOrder {
			r.Policy = protocol.ServerOrder
		}
		c, err := compile(r, 0, "fuzz")
		if err != nil {
			t.Fatal(err)
		}
		proto, h, herr := c.negotiate(offer)
		if herr != nil {
			if herr.Status != 400 {
				t.Fatalf("refusal with status %d", herr.Status)
			}
			return
		}
		if proto != "" && !offer.Contains(proto) {
			t.Fatalf("offer %q: answered %q, which the client did not offer", offer, proto)
		}
		if h != handlers[proto] {
			t.Fatalf("offer %q: answered %q with the wrong handler", offer, proto)
		}
		if proto == "" && len(offer) > 0 && !fallback {
			t.Fatalf("offer %q: served without a protocol although fallback is off", offer)
		}
	})
}

// tagged is a comparable handler, told apart by identity.
type tagged struct{ name string }

func (*tagged) ServeWS(context.Context, *service.Conn) error { return nil }

// TestBracesThatAreNotChiParameters checks that braces RE2 gives a
// meaning to, or that are escaped or in a class, are not taken for chi's.
func TestBracesThatAreNotChiParameters(t *testing.T) {
	t.Parallel()
	h := service.HandlerFunc(func(context.Context, *service.Conn) error { return nil })
	for _, p := range []string{`/x{2}`, `/x{2,}`, `/x{1,3}`, `/a\{b\}`, `/[{]b}`, `/[]{]b}`, `/{}`, `/{9a}`} {
		if _, err := New(Route{Pattern: p, NoProtocol: h}); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestPatternsThatCanMatchAPath checks that the leading-slash check
// refuses no pattern that can match some path.
func TestPatternsThatCanMatchAPath(t *testing.T) {
	t.Parallel()
	h := fixed("")
	for _, p := range []string{`.*`, `(?P<all>.*)`, `[/a]b`, `(?:/a|b)`, `\/a`, `^/a`, `(?i)/Q`, `/?`, `(?:a?)*/`, `\b/a`, `(/x){1,2}`, `[^a]`, `(?s).`} {
		if _, err := New(Route{Pattern: p, NoProtocol: h}); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	for _, p := range []string{`a/`, `x{0}`, `[^/]a`, `(?:)`, `(x){0}`} {
		if _, err := New(Route{Pattern: p, NoProtocol: h}); !errors.Is(err, ErrInvalidPattern) {
			t.Errorf("%s: %v, want ErrInvalidPattern", p, err)
		}
	}
}
