package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRun(t *testing.T) {
	in := `goos: linux
BenchmarkLookup/routes=10/hit/wsmap-2   100  150.0 ns/op  32 B/op  1 allocs/op
BenchmarkLookup/routes=10/hit/chi-2     100  100.0 ns/op   0 B/op  0 allocs/op
BenchmarkLookup/routes=10/hit/wsmap-2   100  210.0 ns/op  32 B/op  1 allocs/op
BenchmarkLookup/routes=10/hit/chi-2     100  200.0 ns/op   0 B/op  0 allocs/op
BenchmarkLookup/routes=10/hit/wsmap-2   100  90.0 ns/op  32 B/op  1 allocs/op
BenchmarkLookup/routes=10/hit/chi-2     100  100.0 ns/op   0 B/op  0 allocs/op
BenchmarkOther/wsmap-2                  100  5 ns/op
PASS
`
	var b strings.Builder
	if err := run(strings.NewReader(in), &b, "chi"); err != nil {
		t.Fatal(err)
	}
	want := `| benchmark | wsmap ns/op | chi ns/op | ratio | range | wsmap allocs | chi allocs |
|---|---|---|---|---|---|---|
| Lookup/routes=10/hit | 150 | 100 | 1.50× | 0.90–1.50 | 1 | 0 |
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
