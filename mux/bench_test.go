package mux

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/go-chi/chi/v5"
)

// BenchmarkLookup measures finding the route for a path among n routes of
// the form /svcN/(?P<id>[0-9]+), beside chi's router on the equivalent
// patterns /svcN/{id:[0-9]+}, in the same run. A hit targets the last
// route registered; a miss matches no route.
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000} {
		m := buildSvcMux(b, n)
		r := chi.NewRouter()
		noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
		for i := range n {
			r.Get(fmt.Sprintf("/svc%d/{id:[0-9]+}", i), noop)
		}
		hit := fmt.Sprintf("/svc%d/12345", n-1)
		miss := fmt.Sprintf("/svc%d/12345", n) // no such service
		for _, tc := range []struct{ name, path string }{{"hit", hit}, {"miss", miss}} {
			b.Run(fmt.Sprintf("routes=%d/%s/wsmap", n, tc.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					c, _, _ := m.route(tc.path)
					if (c != nil) != (tc.name == "hit") {
						b.Fatalf("wsmap lookup of %s: %v", tc.path, c)
					}
				}
			})
			b.Run(fmt.Sprintf("routes=%d/%s/chi", n, tc.name), func(b *testing.B) {
				b.ReportAllocs()
				rctx := chi.NewRouteContext()
				for b.Loop() {
					rctx.Reset()
					if r.Match(rctx, http.MethodGet, tc.path) != (tc.name == "hit") {
						b.Fatalf("chi lookup of %s", tc.path)
					}
				}
			})
		}
	}
}
