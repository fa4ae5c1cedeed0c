// Package outerpattern carries, in a request's context, the pattern of
// the router in front of a mux (net/http's ServeMux), which the mux's
// own pattern replaces in Request.Pattern, so that the connection the
// request opens still keeps the path values that pattern names.
package outerpattern

import (
	"context"
	"net/http"
)

type key struct{}

// With returns a copy of r whose context carries pattern.
func With(r *http.Request, pattern string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), key{}, pattern))
}

// From returns the pattern ctx carries, or "".
func From(ctx context.Context) string {
	p, _ := ctx.Value(key{}).(string)
	return p
}
