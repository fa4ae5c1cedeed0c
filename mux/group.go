package mux

import (
	"net/http"

	"github.com/wsmap/wsmap/service"
)

// Group registers routes that share middleware, inside the Mux's own and
// outside each route's. It is how a set of routes gets, say, an
// authentication layer that the rest of the table does not have.
type Group struct {
	m       *Mux
	mws     []func(http.Handler) http.Handler
	connMws []func(service.Handler) service.Handler
}

// Group returns a group of routes whose handshakes pass through mw.
func (m *Mux) Group(mw ...func(http.Handler) http.Handler) *Group {
	needMiddleware("Group", mw)
	return &Group{m: m, mws: mw}
}

// Use appends handshake middleware for the routes added to g afterwards.
func (g *Group) Use(mw ...func(http.Handler) http.Handler) *Group {
	needMiddleware("Use", mw)
	g.mws = append(g.mws, mw...)
	return g
}

// UseConn appends connection middleware for the routes added to g
// afterwards.
func (g *Group) UseConn(mw ...func(service.Handler) service.Handler) *Group {
	needMiddleware("UseConn", mw)
	g.connMws = append(g.connMws, mw...)
	return g
}

// Add registers r in the Mux with the group's middleware in front of the
// route's own. Mistakes are reported as by Mux.Add.
func (g *Group) Add(r Route) error {
	return g.m.add(g.route(r), caller())
}

// Handle is Mux.Handle for a route of the group.
func (g *Group) Handle(pattern string, h service.Handler, protocols ...string) {
	if err := g.m.handle(g.route(Route{}), pattern, h, protocols, caller()); err != nil {
		panic(err)
	}
}

// route returns r with the group's middleware prepended.
func (g *Group) route(r Route) Route {
	r.Middleware = append(append([]func(http.Handler) http.Handler(nil), g.mws...), r.Middleware...)
	r.ConnMiddleware = append(append([]func(service.Handler) service.Handler(nil), g.connMws...), r.ConnMiddleware...)
	return r
}
