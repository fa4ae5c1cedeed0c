package mux

import (
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"

	"github.com/go-chi/chi/v5"

	"github.com/wsmap/wsmap/internal/outerpattern"
	"github.com/wsmap/wsmap/internal/routeslot"
	"github.com/wsmap/wsmap/service"
)

// Mux is the service mapper: an http.Handler that picks a route by
// matching the request path against each route's pattern (the first
// registered match wins), then a handler by the subprotocol negotiated
// with the client.
//
// The zero value is an empty Mux ready for routes. Set the exported fields
// and call Use and UseConn before serving; Add and Handle may be called at
// any time, also while serving. ServeHTTP is safe for concurrent use.
type Mux struct {
	// NotFound answers requests whose path matches no route. Defaults to a
	// plain-text 404. Set it to chi's NotFound handler to fall back to the
	// parent router when mounted.
	NotFound http.Handler

	// Options configures the connections of routes without Options of
	// their own.
	Options *service.Options

	// CheckOrigin decides whether a browser's cross-origin handshake is
	// allowed. Defaults to same-origin (see service.AcceptOptions).
	CheckOrigin func(r *http.Request) bool

	mu      sync.RWMutex
	idx     index
	mws     []func(http.Handler) http.Handler
	connMws []func(service.Handler) service.Handler
	chain   http.Handler // mws around dispatch, built on first use
}

// New returns a Mux with the given routes, registered in order. It stops
// at the first mistake and returns a *RouteError that names the pattern,
// the table entry and, for a bad pattern, the offset.
func New(routes ...Route) (*Mux, error) {
	m := &Mux{}
	for i, r := range routes {
		if err := m.add(r, tableEntry(i)); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// MustNew is like New but panics on a mistake, with the same message. It
// suits tables written in the program.
func MustNew(routes ...Route) *Mux {
	m, err := New(routes...)
	if err != nil {
		panic(err)
	}
	return m
}

// Add registers a route after those already registered. A mistake is
// returned as a *RouteError naming the file and line of the call.
func (m *Mux) Add(r Route) error {
	return m.add(r, caller())
}

// Handle registers h for pattern: it serves clients that offer none of
// protocols and each of protocols (server order of preference), learning
// the chosen one from Conn.Subprotocol. It panics on a mistake, with the
// message Add would return.
func (m *Mux) Handle(pattern string, h service.Handler, protocols ...string) {
	if err := m.handle(Route{}, pattern, h, protocols, caller()); err != nil {
		panic(err)
	}
}

// handle registers the route Handle makes for h, with the middleware of
// base: h for clients that offer none of protocols and for each of them.
func (m *Mux) handle(base Route, pattern string, h service.Handler, protocols []string, where string) error {
	if isNil(h) {
		return &RouteError{Pattern: pattern, Where: where, Offset: -1, Err: fmt.Errorf("%w: Handle was given a nil handler", ErrNoHandler)}
	}
	r := base
	r.Pattern, r.NoProtocol = pattern, h
	for _, p := range protocols {
		r.Protocols = append(r.Protocols, Protocol{Name: p, Handler: h})
	}
	return m.add(r, where)
}

func (m *Mux) add(r Route, where string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := compile(r, len(m.idx.routes), where)
	if err != nil {
		return err
	}
	key := patternKey(r.Pattern)
	if i, dup := m.idx.patterns[key]; dup {
		prev := m.idx.routes[i]
		also := ""
		if prev.Pattern != r.Pattern {
			also = fmt.Sprintf(" as %q, the same once anchored", prev.Pattern)
		}
		return &RouteError{Pattern: r.Pattern, Where: where, Offset: -1,
			Err: fmt.Errorf("%w: already registered%s (%s)", ErrDuplicatePattern, also, prev.registeredAt())}
	}
	m.idx.add(c, key)
	return nil
}

// caller returns the file:line of the code that called the exported
// registration method.
func caller() string {
	_, file, line, ok := runtime.Caller(2)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s:%d", file, line)
}

// Use appends handshake middleware, which wraps every request the Mux
// serves, including those that match no route. It must be called before
// the Mux serves its first request. It panics if an entry of mw is nil.
func (m *Mux) Use(mw ...func(http.Handler) http.Handler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.chain != nil {
		panic("mux: Use called after the Mux started serving")
	}
	needMiddleware("Use", mw)
	m.mws = append(m.mws, mw...)
}

// UseConn appends connection middleware, which wraps the handler of every
// connection the Mux accepts. It panics if an entry of mw is nil.
func (m *Mux) UseConn(mw ...func(service.Handler) service.Handler) {
	needMiddleware("UseConn", mw)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.connMws = append(m.connMws, mw...)
}

// needMiddleware panics if one of mw, given to the method name, is nil:
// it would fail every request or connection it wrapped.
func needMiddleware[F any](name string, mw []F) {
	for i, f := range mw {
		if isNil(f) {
			panic(fmt.Sprintf("mux: %s given a nil middleware (argument %d)", name, i))
		}
	}
}

// ServeHTTP dispatches r to the first route whose pattern matches its
// path. Mounted in a chi router, the path is the part below the mount
// point (chi's RoutePath); under http.StripPrefix, the stripped path.
// A handshake it upgrades is served on a goroutine of its own (see
// service.Upgrade): ServeHTTP returns at the upgrade.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.RLock()
	h := m.chain
	m.mu.RUnlock()
	if h == nil {
		m.mu.Lock()
		if m.chain == nil {
			var d http.Handler = http.HandlerFunc(m.dispatch)
			for i := len(m.mws) - 1; i >= 0; i-- {
				d = m.mws[i](d)
			}
			m.chain = d
		}
		h = m.chain
		m.mu.Unlock()
	}
	h.ServeHTTP(w, r)
}

// dispatch finds the route and serves r with it.
func (m *Mux) dispatch(w http.ResponseWriter, r *http.Request) {
	path := routePath(r)
	c, sub, connMws := m.route(path)
	if c == nil {
		if m.NotFound != nil {
			m.NotFound.ServeHTTP(w, r)
			return
		}
		http.Error(w, fmt.Sprintf("no WebSocket service at %q", path), http.StatusNotFound)
		return
	}
	if r.Pattern != "" && !underChi(r) {
		// A router in front (net/http's ServeMux) named path values that
		// the connection keeps by its pattern, which the route's replaces.
		r = outerpattern.With(r, r.Pattern)
	}
	for i, name := range c.names {
		if name != "" && sub[2*i] >= 0 {
			r.SetPathValue(name, path[sub[2*i]:sub[2*i+1]])
		}
	}
	// As net/http's ServeMux and chi do, the router that serves the
	// request names its route, which middleware uses to label metrics
	// and logs. Under chi, the name starts with the mount point's.
	r.Pattern = routePattern(r, c.Pattern)
	routeslot.Set(r.Context(), r.Pattern)
	if len(c.Middleware) == 0 {
		rh := routeHandler{m: m, c: c, connMws: connMws}
		rh.ServeHTTP(w, r)
		return
	}
	var h http.Handler = &routeHandler{m: m, c: c, connMws: connMws}
	for i := len(c.Middleware) - 1; i >= 0; i-- {
		h = c.Middleware[i](h)
	}
	h.ServeHTTP(w, r)
}

// route finds the route for path, with the connection middleware to
// apply.
func (m *Mux) route(path string) (*compiled, []int, []func(service.Handler) service.Handler) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, sub := m.idx.lookup(path)
	return c, sub, m.connMws
}

// underChi reports whether r is routed by chi routes that lead to the
// mux.
func underChi(r *http.Request) bool {
	rctx := chi.RouteContext(r.Context())
	return rctx != nil && len(rctx.RoutePatterns) > 0
}

// routePattern returns pattern, behind the pattern of the chi routes
// that lead to the mux if it is mounted in a chi router: "/ws/echo" for
// the route "/echo" of a mux mounted at "/ws".
func routePattern(r *http.Request, pattern string) string {
	if rctx := chi.RouteContext(r.Context()); rctx != nil && len(rctx.RoutePatterns) > 0 {
		return strings.TrimSuffix(strings.TrimSuffix(rctx.RoutePattern(), "*"), "/") + pattern
	}
	return pattern
}

// routePath returns the decoded path to match: chi's RoutePath when
// mounted in a chi router, else the URL's path.
func routePath(r *http.Request) string {
	if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RoutePath != "" {
		if r.URL.RawPath == "" {
			return rctx.RoutePath // chi took it from the decoded path
		}
		if p, err := url.PathUnescape(rctx.RoutePath); err == nil {
			return p
		}
		return rctx.RoutePath
	}
	if r.URL.Path == "" {
		return "/"
	}
	return r.URL.Path
}
