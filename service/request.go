package service

import (
	"context"
	"crypto/tls"
	"iter"
	"net/http"
	"net/url"
	"strings"

	"github.com/wsmap/wsmap/internal/outerpattern"
)

// keptRequest is what a server connection keeps of the request that
// opened it: the request's own strings, the headers in one string, and
// the path values its pattern names. Request builds an *http.Request
// from it when asked, so that a connection whose handler never asks
// keeps no request, header map, URL or path-value map.
type keptRequest struct {
	header     string // "Key: value\r\n" per value, keys as the map held them
	host       string
	remoteAddr string
	requestURI string
	proto      string
	pattern    string
	// The URL as the handler saw it (a prefix may have been stripped).
	scheme, urlHost, path, rawPath, rawQuery string
	params                                   []string // name, value, name, value…
	tls                                      *tls.ConnectionState
}

// keepRequest records what Request needs of r.
func keepRequest(r *http.Request) *keptRequest {
	u := &keptRequest{
		header:     headerLines(r.Header),
		host:       r.Host,
		remoteAddr: r.RemoteAddr,
		requestURI: r.RequestURI,
		proto:      r.Proto,
		pattern:    r.Pattern,
		tls:        r.TLS,
	}
	if r.URL != nil {
		u.scheme, u.urlHost, u.path, u.rawPath, u.rawQuery = r.URL.Scheme, r.URL.Host, r.URL.Path, r.URL.RawPath, r.URL.RawQuery
	}
	u.params = pathValues(r)
	return u
}

// request builds the request, with ctx as its context.
func (u *keptRequest) request(ctx context.Context) *http.Request {
	r := (&http.Request{
		Method:     http.MethodGet,
		URL:        &url.URL{Scheme: u.scheme, Host: u.urlHost, Path: u.path, RawPath: u.rawPath, RawQuery: u.rawQuery},
		Proto:      u.proto,
		Header:     parseHeaderLines(u.header),
		Body:       http.NoBody,
		Host:       u.host,
		RemoteAddr: u.remoteAddr,
		RequestURI: u.requestURI,
		TLS:        u.tls,
		Pattern:    u.pattern,
	}).WithContext(ctx)
	r.ProtoMajor, r.ProtoMinor, _ = http.ParseHTTPVersion(u.proto)
	for i := 0; i+1 < len(u.params); i += 2 {
		r.SetPathValue(u.params[i], u.params[i+1])
	}
	return r
}

// pattern returns the pattern of the route that served the connection's
// request, or "".
func (c *Conn) pattern() string {
	switch {
	case c.up != nil:
		return c.up.pattern
	case c.resp != nil && c.resp.Request != nil:
		return c.resp.Request.Pattern
	}
	return ""
}

// param returns the path value named name, or "".
func (u *keptRequest) param(name string) string {
	for i := 0; i+1 < len(u.params); i += 2 {
		if u.params[i] == name {
			return u.params[i+1]
		}
	}
	return ""
}

// headerLines writes h as header lines, "Key: value\r\n" for each value,
// a line break inside a value written as a space (as Header.Write does).
// The lines are written in one pass over the map, on the stack while
// they fit, and copied into the one string kept.
func headerLines(h http.Header) string {
	var buf [512]byte
	b := buf[:0]
	for k, vs := range h {
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			start := len(b)
			b = append(b, v...)
			for i := start; i < len(b); i++ {
				if c := b[i]; c == '\r' || c == '\n' {
					b[i] = ' '
				}
			}
			b = append(b, "\r\n"...)
		}
	}
	return string(b)
}

// parseHeaderLines reads what headerLines wrote back into a header map.
func parseHeaderLines(s string) http.Header {
	h := make(http.Header, strings.Count(s, "\n"))
	for line := range strings.SplitSeq(s, "\r\n") {
		if k, v, ok := strings.Cut(line, ": "); ok {
			h[k] = append(h[k], v)
		}
	}
	return h
}

// pathValues returns, as name-value pairs, the path values of r that
// its pattern names, and the pattern of a router in front of a mux
// (see patternNames).
func pathValues(r *http.Request) []string {
	var out []string
	for _, p := range [2]string{r.Pattern, outerpattern.From(r.Context())} {
	names:
		for name := range patternNames(p) {
			for i := 0; i < len(out); i += 2 {
				if out[i] == name {
					continue names
				}
			}
			if v := r.PathValue(name); v != "" {
				out = append(out, name, v)
			}
		}
	}
	return out
}

// patternNames yields the names pattern p gives path values: the
// wildcards of a net/http or chi pattern ("{name}", "{name...}") and the
// named groups of a mux pattern ("(?P<name>…)", "(?<name>…)"), which a
// mux mounted under chi puts behind chi's own. A regular expression's
// repetition ("{2,3}") yields a name no path value has.
func patternNames(p string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for i := 0; i < len(p); i++ {
			var name string
			switch {
			case p[i] == '{':
				end := strings.IndexByte(p[i:], '}')
				if end < 0 {
					return
				}
				name = strings.TrimSuffix(p[i+1:i+end], "...")
				i += end
			case strings.HasPrefix(p[i:], "(?P<"), strings.HasPrefix(p[i:], "(?<"):
				start := i + strings.IndexByte(p[i:], '<') + 1
				end := strings.IndexByte(p[start:], '>')
				if end < 0 {
					return
				}
				name = p[start : start+end]
				i = start + end
			default:
				continue
			}
			if name != "" && name != "$" && !yield(name) {
				return
			}
		}
	}
}
