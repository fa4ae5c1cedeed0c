package mux

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func TestLookupOrder(t *testing.T) {
	t.Parallel()
	m := MustNew(
		Route{Pattern: `/a/.*`, NoProtocol: fixed("0")},
		Route{Pattern: `/a/b/c`, NoProtocol: fixed("1")},
		Route{Pattern: `/.*`, NoProtocol: fixed("2")},
		Route{Pattern: `/z`, NoProtocol: fixed("3")},
		Route{Pattern: `(?i)/Q`, NoProtocol: fixed("4")},
		Route{Pattern: `/q`, NoProtocol: fixed("5")},
	)
	for path, want := range map[string]int{
		"/a/b/c": 0, "/a/": 0, "/a": 2, "/z": 2, "/q": 2, "": -1, "x": -1,
	} {
		c, _ := m.idx.lookup(path)
		got := -1
		if c != nil {
			got = c.index
		}
		if got != want {
			t.Errorf("lookup(%q) = route %d, want %d", path, got, want)
		}
	}
}

// linearLookup is the specification: the first route, in registration
// order, whose anchored pattern matches.
func linearLookup(patterns []string, path string) int {
	for i, p := range patterns {
		if regexp.MustCompile(`^(?:` + p + `)$`).MatchString(path) {
			return i
		}
	}
	return -1
}

// FuzzCompileAndLookup compiles arbitrary patterns and checks that the
// indexed lookup agrees with trying every pattern in order.
func FuzzCompileAndLookup(f *testing.F) {
	f.Add(`/svc1/(?P<id>[0-9]+)`, `/svc1/.*`, `/svc1/42`)
	f.Add(`^/echo$`, `/echo`, `/echo`)
	f.Add(`(?i)/A`, `/a|/b`, `/a`)
	f.Add(`/x/(a)`, `/x/`, `/x/a`)
	f.Add(`[`, `/`, `/`)
	f.Fuzz(func(t *testing.T, p1, p2, path string) {
		var patterns []string
		m := &Mux{}
		for _, p := range []string{p1, p2} {
			err := m.add(Route{Pattern: p, NoProtocol: fixed("")}, "fuzz")
			if err == nil {
				patterns = append(patterns, p)
				continue
			}
			re, rerr := regexp.Compile(`^(?:` + p + `)$`)
			if rerr == nil && strings.Contains(err.Error(), "cannot match a path") && strings.HasPrefix(path, "/") && re.MatchString(path) {
				t.Fatalf("refused %q as matching no path, but it matches %q", p, path)
			}
			if rerr == nil && p != p1 {
				// Only a duplicate or a duplicate capture name may be
				// refused when the regexp itself compiles.
				t.Logf("refused %q: %v", p, err)
			}
		}
		c, _ := m.idx.lookup(path)
		got := -1
		if c != nil {
			got = c.index
		}
		if want := linearLookup(patterns, path); got != want {
			t.Fatalf("patterns %q, path %q: index found %d, linear scan %d", patterns, path, got, want)
		}
	})
}

func TestLookupManyRoutes(t *testing.T) {
	t.Parallel()
	m := buildSvcMux(t, 1000)
	for _, tt := range []struct {
		path string
		want int
	}{{"/svc0/1", 0}, {"/svc999/123", 999}, {"/svc99/7", 99}, {"/svc1000/1", -1}, {"/svc5/x", -1}, {"/svc5/", -1}} {
		c, sub := m.idx.lookup(tt.path)
		got := -1
		if c != nil {
			got = c.index
			if id := tt.path[sub[2]:sub[3]]; fmt.Sprint("/svc", got, "/", id) != tt.path {
				t.Errorf("%s: captured id %q", tt.path, id)
			}
		}
		if got != tt.want {
			t.Errorf("%s: route %d, want %d", tt.path, got, tt.want)
		}
	}
}

func buildSvcMux(tb testing.TB, n int) *Mux {
	tb.Helper()
	table := make([]Route, n)
	h := fixed("")
	for i := range table {
		table[i] = Route{Pattern: fmt.Sprintf(`/svc%d/(?P<id>[0-9]+)`, i), NoProtocol: h}
	}
	m, err := New(table...)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// TestExpressionsCompiledWhenReached: a route keeps its compiled
// expression only once a path has reached it, and routes reached by many
// requests at once all get the same one.
func TestExpressionsCompiledWhenReached(t *testing.T) {
	t.Parallel()
	var table []Route
	for i := range 50 {
		table = append(table, Route{Pattern: fmt.Sprintf(`/svc%d/(?P<id>[0-9]+)`, i), NoProtocol: fixed("x")})
	}
	m := MustNew(table...)
	reached := func() []int {
		var got []int
		for _, c := range m.idx.routes {
			if c.re.Load() != nil {
				got = append(got, c.index)
			}
		}
		return got
	}
	if got := reached(); len(got) != 0 {
		t.Fatalf("before any lookup, routes %v hold a compiled expression", got)
	}
	done := make(chan *compiled, 8)
	for range 8 {
		go func() {
			c, sub := m.idx.lookup("/svc7/42")
			if c == nil || len(sub) < 4 || "/svc7/42"[sub[2]:sub[3]] != "42" {
				done <- nil
				return
			}
			done <- c
		}()
	}
	for range 8 {
		if c := <-done; c == nil || c.index != 7 {
			t.Fatal("lookup of /svc7/42 did not find route 7 with its capture")
		}
	}
	if got := reached(); len(got) != 1 || got[0] != 7 {
		t.Fatalf("after lookups of route 7, routes %v hold a compiled expression, want [7]", got)
	}
	if c, _ := m.idx.lookup("/svc7/x"); c != nil {
		t.Fatalf("/svc7/x matched route %d", c.index)
	}
}
