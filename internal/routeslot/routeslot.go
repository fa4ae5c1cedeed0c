// Package routeslot lets handshake middleware learn which route served a
// request: the middleware puts a slot in the request's context, and the
// router behind it, which may see another copy of the request, fills it.
package routeslot

import (
	"context"
	"net/http"
)

// Slot holds the pattern of the route that served a request.
type Slot struct{ Pattern string }

type key struct{}

// With returns a request carrying a slot, and the slot. When r carries
// one already, put there by a layer further out, r and that slot are
// returned, so that every layer reads what the router fills in; else a
// copy of r with a new, empty slot.
func With(r *http.Request) (*http.Request, *Slot) {
	if s, ok := r.Context().Value(key{}).(*Slot); ok {
		return r, s
	}
	s := &Slot{}
	return r.WithContext(context.WithValue(r.Context(), key{}, s)), s
}

// Set records pattern in the slot ctx carries, if any.
func Set(ctx context.Context, pattern string) {
	if s, ok := ctx.Value(key{}).(*Slot); ok {
		s.Pattern = pattern
	}
}
