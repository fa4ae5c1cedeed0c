package service

import (
	"context"
	"net/http"
	"sync/atomic"
)

// A Lifetime follows the connection a handshake may open, for handshake
// middleware whose work lasts as long as the connection: a limit on
// connections open at once, say. The mux and Endpoint return from
// ServeHTTP as soon as the connection is upgraded, so such middleware
// cannot count on ServeHTTP's return; it calls Track instead.
type Lifetime struct {
	ended    func()
	upgraded atomic.Bool
	outer    *Lifetime // the one a middleware further out attached
}

type lifetimeKey struct{}

// Track returns a copy of r that Accept recognises, and the Lifetime
// that follows it. If Accept upgrades the request (directly, or through
// a mux or an Endpoint), ended runs once the connection has closed and
// its handler has returned; otherwise ended never runs. After serving
// the request, the middleware asks Lifetime.Upgraded which of the two
// happened:
//
//	r, lt := service.Track(r, release)
//	next.ServeHTTP(w, r)
//	if !lt.Upgraded() {
//		release() // refused, or a plain HTTP request
//	}
//
// Several middlewares may track the same request; each gets its own
// call.
func Track(r *http.Request, ended func()) (*http.Request, *Lifetime) {
	lt := &Lifetime{ended: ended}
	lt.outer, _ = r.Context().Value(lifetimeKey{}).(*Lifetime)
	return r.WithContext(context.WithValue(r.Context(), lifetimeKey{}, lt)), lt
}

// Upgraded reports whether the tracked request was upgraded to a
// WebSocket connection, in which case the Lifetime's ended function runs
// (or has run) when the connection ends.
func (lt *Lifetime) Upgraded() bool { return lt.upgraded.Load() }

// lifetimeFrom returns the innermost Lifetime attached to r.
func lifetimeFrom(r *http.Request) *Lifetime {
	lt, _ := r.Context().Value(lifetimeKey{}).(*Lifetime)
	return lt
}

// end runs the ended functions of lt and of those outside it, innermost
// first.
func (lt *Lifetime) end() {
	for ; lt != nil; lt = lt.outer {
		lt.ended()
	}
}

// markUpgraded records the upgrade on lt and those outside it.
func (lt *Lifetime) markUpgraded() {
	for ; lt != nil; lt = lt.outer {
		lt.upgraded.Store(true)
	}
}
