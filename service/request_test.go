package service

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/outerpattern"
)

// seenRequest is what a handler reads of a request.
type seenRequest struct {
	Method, Proto          string
	ProtoMajor, ProtoMinor int
	Host, RemoteAddr, URI  string
	URL, Path, RawQuery    string
	Header                 http.Header
	Pattern                string
	Values                 map[string]string
	TLS                    bool
}

func seen(r *http.Request, names ...string) seenRequest {
	s := seenRequest{Method: r.Method, Proto: r.Proto, ProtoMajor: r.ProtoMajor, ProtoMinor: r.ProtoMinor,
		Host: r.Host, RemoteAddr: r.RemoteAddr, URI: r.RequestURI, URL: r.URL.String(), Path: r.URL.Path,
		RawQuery: r.URL.RawQuery, Header: r.Header, Pattern: r.Pattern, TLS: r.TLS != nil, Values: map[string]string{}}
	for _, n := range names {
		if v := r.PathValue(n); v != "" {
			s.Values[n] = v
		}
	}
	return s
}

// TestKeptRequest checks that the request a server connection builds
// from what it kept reads as the handshake's did.
func TestKeptRequest(t *testing.T) {
	t.Parallel()
	type ctxKey struct{}
	tests := []struct {
		name  string
		req   func() *http.Request
		names []string // path values to compare
	}{
		{"headers", func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "http://example.com/a/b?x=1&y=2", nil)
			r.RequestURI = "/a/b?x=1&y=2"
			r.Header.Add("X-Multi", "one")
			r.Header.Add("X-Multi", "two, three")
			r.Header.Set("Authorization", "Bearer: a:b")
			r.Header["x-raw-key"] = []string{"kept as set"}
			r.Header.Set("X-Empty", "")
			return r
		}, nil},
		{"net/http pattern", func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/t/acme/files/a/b", nil)
			r.Pattern = "GET /t/{tenant}/files/{path...}"
			r.SetPathValue("tenant", "acme")
			r.SetPathValue("path", "a/b")
			r.SetPathValue("unnamed", "not kept")
			return r
		}, []string{"tenant", "path"}},
		{"mux pattern behind chi's", func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/t/acme/ws/rooms/lobby", nil)
			r.Pattern = "/t/{tenant}/ws/rooms/(?P<room>[a-z]{2,10})/(?<n>[0-9]+)?"
			r.SetPathValue("tenant", "acme")
			r.SetPathValue("room", "lobby")
			return r
		}, []string{"tenant", "room", "n"}},
		{"mux pattern behind a ServeMux's", func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/t/acme/rooms/hall", nil)
			r.Pattern = "/t/{tenant}/"
			r.SetPathValue("tenant", "acme")
			r = outerpattern.With(r, r.Pattern)
			r.Pattern = "/rooms/(?P<room>[a-z]+)"
			r.SetPathValue("room", "hall")
			r.URL.Path = "/rooms/hall" // stripped by http.StripPrefix
			return r
		}, []string{"tenant", "room"}},
		{"absolute target over TLS", func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "https://example.com:8443/x%2Fy?q", nil)
			r.RequestURI = "https://example.com:8443/x%2Fy?q"
			r.TLS = &tls.ConnectionState{ServerName: "example.com"}
			r.RemoteAddr = "[::1]:5000"
			return r
		}, nil},
		{"context values", func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			return r.WithContext(context.WithValue(r.Context(), ctxKey{}, "v"))
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.req()
			want := seen(r, tt.names...)
			kept := keepRequest(r)
			ctx := context.WithoutCancel(r.Context())
			got := kept.request(ctx)
			if diff := cmp.Diff(want, seen(got, tt.names...)); diff != "" {
				t.Errorf("request (-handshake's +built):\n%s", diff)
			}
			if got.Context() != ctx {
				t.Error("the built request's context is not the one given")
			}
			if got.Context().Value(ctxKey{}) != r.Context().Value(ctxKey{}) {
				t.Error("the handshake's context values are lost")
			}
			for _, n := range tt.names {
				if g, w := kept.param(n), r.PathValue(n); g != w {
					t.Errorf("param(%q) = %q, want %q", n, g, w)
				}
			}
			if got.Body != http.NoBody {
				t.Error("Body is not http.NoBody")
			}
			if kept.request(ctx) == got {
				t.Error("two calls gave the same request")
			}
		})
	}
}

func TestPatternNames(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		pattern string
		want    []string
	}{
		{"", nil},
		{"/echo", nil},
		{"GET example.com/t/{tenant}/f/{path...}", []string{"tenant", "path"}},
		{"/b/{$}", nil},
		{"/rooms/(?P<room>[a-z]+)/(?<n>[0-9]{1,3})", []string{"room", "n", "1,3"}},
		{"/t/{tenant}/ws/rooms/(?P<room>[a-z]+)", []string{"tenant", "room"}},
		{"/unclosed/{name", nil},
		{"/unclosed/(?P<name", nil},
		{"/(?:x)(y)", nil},
	} {
		if got := slices.Collect(patternNames(tt.pattern)); !slices.Equal(got, tt.want) {
			t.Errorf("patternNames(%q) = %q, want %q", tt.pattern, got, tt.want)
		}
	}
}

// FuzzHeaderLines checks that a header map read back from its lines is
// the map, with line breaks inside values as spaces.
func FuzzHeaderLines(f *testing.F) {
	f.Add("X-A", "one", "two")
	f.Add("Sec-Websocket-Protocol", "chat, superchat", "")
	f.Add("x-raw", "a\r\nb", "c\nd\re")
	f.Fuzz(func(t *testing.T, key, v1, v2 string) {
		if key == "" || strings.ContainsAny(key, ":\r\n ") {
			t.Skip("not a header name")
		}
		h := http.Header{key: {v1, v2}}
		want := http.Header{}
		for _, v := range h[key] {
			want[key] = append(want[key], strings.NewReplacer("\r", " ", "\n", " ").Replace(v))
		}
		if diff := cmp.Diff(want, parseHeaderLines(headerLines(h))); diff != "" {
			t.Errorf("header read back (-want +got):\n%s", diff)
		}
	})
}
