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
	if err := run(strings.NewReader(in), &b, "wsmap", "chi", "ns/op"); err != nil {
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

func TestRunMetric(t *testing.T) {
	in := `BenchmarkBroadcast/members=10/wsmap-2   200  300 ns/op  4000 cpu-ns/delivery  30000 deliveries/s  11620 B/op  13 allocs/op
BenchmarkBroadcast/members=10/melody-2  200  200 ns/op  5000 cpu-ns/delivery  50000 deliveries/s  296 B/op  4 allocs/op
BenchmarkBroadcast/members=10/wsmap-2   200  300 ns/op  6000 cpu-ns/delivery  30000 deliveries/s  11620 B/op  13 allocs/op
BenchmarkBroadcast/members=10/melody-2  200  200 ns/op  5000 cpu-ns/delivery  50000 deliveries/s  296 B/op  4 allocs/op
BenchmarkBroadcast/members=10/wsmap-2   200  300 ns/op  5000 cpu-ns/delivery  30000 deliveries/s  11620 B/op  13 allocs/op
BenchmarkBroadcast/members=10/melody-2  200  200 ns/op  bad cpu-ns/delivery
`
	var b strings.Builder
	err := run(strings.NewReader(in), &b, "wsmap", "melody", "deliveries/s")
	if err != nil {
		t.Fatal(err)
	}
	want := `| benchmark | wsmap deliveries/s | melody deliveries/s | ratio | range | wsmap allocs | melody allocs |
|---|---|---|---|---|---|---|
| Broadcast/members=10 | 30000 | 50000 | 0.60× | 0.60–0.60 | 13 | 4 |
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	b.Reset()
	if err := run(strings.NewReader(in), &b, "wsmap", "melody", "cpu-ns/delivery"); err == nil {
		t.Error("a malformed value: no error")
	}
}

func TestRunName(t *testing.T) {
	in := `BenchmarkBroadcast/members=10/local-2  100  10 ns/op  1000 deliveries/s
BenchmarkBroadcast/members=10/nats-2   100  20 ns/op  800 deliveries/s  24 allocs/op
BenchmarkBroadcast/members=10/wsmap-2  100  20 ns/op  1 deliveries/s
`
	var b strings.Builder
	if err := run(strings.NewReader(in), &b, "nats", "local", "deliveries/s"); err != nil {
		t.Fatal(err)
	}
	want := `| benchmark | nats deliveries/s | local deliveries/s | ratio | range | nats allocs | local allocs |
|---|---|---|---|---|---|---|
| Broadcast/members=10 | 800 | 1000 | 0.80× | 0.80–0.80 | 24 |  |
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
