package middleware

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/wsmap/wsmap/service"
)

// OriginOptions configures Origin.
type OriginOptions struct {
	// Allow lists the origins accepted besides the request's own host.
	// An entry is one of:
	//   - "https://app.example.com" or "http://localhost:3000": that exact
	//     origin (scheme, host and port);
	//   - "app.example.com" or "localhost:3000": that host and port with
	//     any scheme;
	//   - "https://*.example.com" or "*.example.com": every subdomain of
	//     example.com, at any depth, but not example.com itself;
	//   - "null": the opaque origin of sandboxed frames and local files;
	//   - "*": every origin, which turns the check off.
	// Hosts compare without regard to case; an entry without a port only
	// matches origins without one.
	Allow []string

	// RequireOrigin refuses handshakes that carry no Origin header.
	// Browsers always send one; other clients usually do not, so by
	// default they are let through.
	RequireOrigin bool
}

// Origin returns handshake middleware that refuses, with 403 and a
// reason, a browser handshake from an origin that is neither the
// request's own host nor on the allow-list. It closes cross-site
// WebSocket hijacking (CSWSH) while letting chosen sites in. Requests that
// are not WebSocket handshakes pass untouched. A nil o allows the
// request's own host only. A mistake in an Allow entry panics, with a
// message naming the entry, when the middleware is made.
//
// Without this middleware, Accept (and so every mux route) already
// applies the same-origin part of the rule (service.SameOrigin); Origin
// marks the requests it lets through (service.WithOriginChecked) so that
// allowed cross-origin handshakes reach the handler.
func Origin(opts *OriginOptions) func(http.Handler) http.Handler {
	var o OriginOptions
	if opts != nil {
		o = *opts
	}
	var rules []originRule
	for _, a := range o.Allow {
		r, err := parseOriginRule(a)
		if err != nil {
			panic(err)
		}
		rules = append(rules, r)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !service.IsUpgrade(r) {
				next.ServeHTTP(w, r)
				return
			}
			origin := r.Header.Get("Origin")
			switch {
			case origin == "" && o.RequireOrigin:
				refuse(w, http.StatusForbidden, "an Origin header is required", nil)
				return
			case origin == "":
			case service.SameOrigin(r) || matchOrigin(rules, origin):
				r = r.WithContext(service.WithOriginChecked(r.Context()))
			default:
				refuse(w, http.StatusForbidden, fmt.Sprintf("origin %q is not allowed", origin), nil)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// originRule is one parsed Allow entry.
type originRule struct {
	any    bool   // "*"
	scheme string // "" for any
	host   string // exact host[:port], or the suffix after "*" (".example.com")
	suffix bool
}

func parseOriginRule(s string) (originRule, error) {
	bad := func(why string) (originRule, error) {
		return originRule{}, fmt.Errorf("middleware: origin %q: %s", s, why)
	}
	switch s {
	case "*":
		return originRule{any: true}, nil
	case "null":
		return originRule{host: "null"}, nil
	}
	var r originRule
	host := s
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		if scheme == "" {
			return bad("empty scheme")
		}
		r.scheme = strings.ToLower(scheme)
		host = rest
	}
	if strings.HasPrefix(host, "*.") {
		r.suffix = true
		host = host[1:]
	}
	switch {
	case host == "" || host == ".":
		return bad("no host")
	case strings.ContainsAny(host, "/?#@* \t"):
		return bad(`only "scheme://host[:port]", with an optional leading "*." in the host, is allowed`)
	}
	r.host = strings.ToLower(host)
	return r, nil
}

// matchOrigin reports whether origin matches one of rules.
func matchOrigin(rules []originRule, origin string) bool {
	if origin == "null" {
		for _, r := range rules {
			if r.any || r.host == "null" {
				return true
			}
		}
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme == "" || u.Host == "" {
		for _, r := range rules {
			if r.any {
				return true
			}
		}
		return false
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	for _, r := range rules {
		switch {
		case r.any:
			return true
		case r.scheme != "" && r.scheme != scheme:
		case r.suffix && strings.HasSuffix(host, r.host) && len(host) > len(r.host):
			return true
		case !r.suffix && host == r.host:
			return true
		}
	}
	return false
}

// refuse answers a request with a status and a one-line reason.
func refuse(w http.ResponseWriter, status int, reason string, header http.Header) {
	(&service.HandshakeError{Status: status, Reason: reason, Header: header}).WriteResponse(w)
}
