package middleware

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/wsmap/wsmap/protocol"
)

// FuzzOrigin parses an allow-list entry and matches an origin against
// it: no panic, and an entry made from an origin's scheme and host always
// matches that origin.
func FuzzOrigin(f *testing.F) {
	for _, s := range [][2]string{
		{"https://app.example.com", "https://app.example.com"},
		{"*.example.com", "http://a.b.example.com"},
		{"null", "null"},
		{"*", "https://x"},
		{"localhost:3000", "http://localhost:3000"},
		{"https://*.x.org", "https://x.org"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, entry, origin string) {
		if r, err := parseOriginRule(entry); err == nil {
			matchOrigin([]originRule{r}, origin)
		}
		u, err := url.Parse(origin)
		if err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
			return
		}
		self := u.Scheme + "://" + u.Host
		r, err := parseOriginRule(self)
		if err != nil {
			return // hosts with characters the list does not accept
		}
		if !matchOrigin([]originRule{r}, origin) {
			t.Errorf("entry %q does not match origin %q", self, origin)
		}
	})
}

// FuzzClientIP walks arbitrary X-Forwarded-For headers: no panic, and the
// result is the peer or an address from the header.
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:80", "203.0.113.9, 10.0.0.2")
	f.Add("[::1]:1", "garbage")
	f.Add("10.0.0.1:80", ",,,")
	key := ClientIP(netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128"))
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		got := key(r)
		if got == remote {
			return
		}
		if a, ok := remoteIP(remote); ok && got == a.String() {
			return
		}
		for _, e := range strings.Split(xff, ",") {
			if a, err := netip.ParseAddr(strings.TrimSpace(e)); err == nil && a.Unmap().String() == got {
				return
			}
		}
		t.Errorf("ClientIP(%q, %q) = %q, from neither", remote, xff, got)
	})
}

// FuzzStripProtocolTokens feeds arbitrary offers to the token extraction:
// no panic, no entry with the prefix is left in the offer, the other
// entries keep their order, and the token is the first offered.
func FuzzStripProtocolTokens(f *testing.F) {
	f.Add("chat, access_token.abc")
	f.Add("access_token.x, access_token.y")
	f.Add("a,,b")
	f.Add("bad token")
	sources := []TokenSource{ProtocolToken("access_token.")}
	f.Fuzz(func(t *testing.T, header string) {
		r := &http.Request{Header: http.Header{"Sec-Websocket-Protocol": {header}}}
		r = r.WithContext(t.Context())
		before, err := protocol.OfferFromHeader(r.Header)
		got := stripProtocolTokens(r, sources)
		if err != nil {
			if got != r {
				t.Errorf("a malformed offer %q was rewritten", header)
			}
			return
		}
		after, err := protocol.OfferFromHeader(got.Header)
		if err != nil {
			t.Fatalf("stripped offer %q does not parse: %v", got.Header.Values("Sec-Websocket-Protocol"), err)
		}
		var want []string
		for _, p := range before {
			if !strings.HasPrefix(p, "access_token.") {
				want = append(want, p)
			}
		}
		if strings.Join(want, ",") != strings.Join(after, ",") {
			t.Errorf("offer %q became %q, want %q", before, after, want)
		}
		for _, p := range before {
			if tok, ok := strings.CutPrefix(p, "access_token."); ok {
				if got, _ := findToken(got, sources); got != tok && tok != "" {
					t.Errorf("token %q, want %q (the first offered)", got, tok)
				}
				break
			}
		}
	})
}
