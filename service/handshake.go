package service

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/wsmap/wsmap/protocol"
)

// The handshake's header names as net/http stores them
// (textproto.CanonicalMIMEHeaderKey). Indexing the header map with them
// finds what Header.Values would, without converting RFC 6455's spelling
// ("Sec-WebSocket-…") on every handshake, which allocates.
const (
	headerVersionKey    = "Sec-Websocket-Version"
	headerKeyKey        = "Sec-Websocket-Key"
	headerExtensionsKey = "Sec-Websocket-Extensions"
	headerProtocolKey   = "Sec-Websocket-Protocol"
)

// HandshakeError is a refused opening handshake: the HTTP status, a
// one-line reason sent as the plain-text body, and headers that the
// response must carry (such as Sec-WebSocket-Version: 13 with 426). A
// server's Accept returns one for the handshakes it refuses; a client's
// Dial returns one for a server's refusal, with the response's headers
// and the reason its body gave.
type HandshakeError struct {
	Status int
	Reason string
	Header http.Header
	// URL is, on a client, the URL dialed without its query, fragment
	// and user information, which may hold secrets.
	URL string
	// Err is the underlying error, if any, such as a malformed offer, or
	// ErrBadHandshake on a client.
	Err error
}

// Error returns the status and the reason, and on a client the URL
// without its secrets.
func (e *HandshakeError) Error() string {
	if e.Status == http.StatusSwitchingProtocols {
		// Not a refusal: an answer that only looks like an upgrade.
		from := ""
		if e.URL != "" {
			from = " from " + e.URL
		}
		return fmt.Sprintf("service: bad handshake%s: %s", from, e.Reason)
	}
	by := ""
	if e.URL != "" {
		by = " by " + e.URL
	}
	return fmt.Sprintf("service: handshake refused%s: %d %s: %s", by, e.Status, http.StatusText(e.Status), e.Reason)
}

// Unwrap returns the underlying error.
func (e *HandshakeError) Unwrap() error { return e.Err }

// WriteResponse writes e as a complete HTTP response: its headers, its
// status and its reason as a plain-text body.
func (e *HandshakeError) WriteResponse(w http.ResponseWriter) {
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	http.Error(w, e.Reason, e.Status)
}

// IsUpgrade reports whether r asks for a WebSocket upgrade: its Upgrade
// header contains the "websocket" token. A request that does not may be a
// plain page request sharing the path.
func IsUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Upgrade", "websocket")
}

// CheckHandshake validates r as the client's opening handshake (RFC 6455
// section 4.2.1) and returns the client's subprotocol offer. A request
// that fails is described by a *HandshakeError:
//
//   - 405 with Allow: GET when the method is not GET;
//   - 400 when the request is not HTTP/1.1 or later;
//   - 400 when the request target is neither a path nor an absolute http
//     or https URI (RFC 6455 section 4.2.1);
//   - 426 with Upgrade: websocket when r is not an upgrade request;
//   - 400 when Connection lacks the "upgrade" token;
//   - 426 with Sec-WebSocket-Version: 13 for a missing or other version
//     (also the answer to obsolete hixie and hybi drafts), 400 for more
//     than one;
//   - 400 when Sec-WebSocket-Key is missing or not 16 base64-encoded bytes;
//   - 400 when Sec-WebSocket-Protocol is malformed or offers more than
//     protocol.MaxOffer subprotocols.
func CheckHandshake(r *http.Request) (protocol.Offer, error) {
	if r.Method != http.MethodGet {
		return nil, &HandshakeError{Status: http.StatusMethodNotAllowed,
			Reason: "WebSocket handshake must use GET, not " + r.Method,
			Header: http.Header{"Allow": {http.MethodGet}}}
	}
	if r.ProtoMajor != 1 || r.ProtoMinor < 1 {
		return nil, &HandshakeError{Status: http.StatusBadRequest,
			Reason: "WebSocket handshake requires HTTP/1.1, not " + r.Proto}
	}
	if !validTarget(r) {
		return nil, &HandshakeError{Status: http.StatusBadRequest,
			Reason: "request target must be a path or an absolute http or https URI"}
	}
	if !IsUpgrade(r) {
		return nil, &HandshakeError{Status: http.StatusUpgradeRequired,
			Reason: "this resource requires a WebSocket upgrade (Upgrade: websocket)",
			Header: http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}}
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") {
		return nil, &HandshakeError{Status: http.StatusBadRequest,
			Reason: "Connection header must contain the upgrade token"}
	}
	if v := r.Header[headerVersionKey]; len(v) > 1 {
		return nil, &HandshakeError{Status: http.StatusBadRequest,
			Reason: "Sec-WebSocket-Version must appear once"}
	} else if len(v) == 0 {
		return nil, &HandshakeError{Status: http.StatusUpgradeRequired,
			Reason: "Sec-WebSocket-Version is missing: only version 13 is supported",
			Header: http.Header{"Sec-WebSocket-Version": {"13"}}}
	} else if strings.TrimSpace(v[0]) != "13" {
		return nil, &HandshakeError{Status: http.StatusUpgradeRequired,
			Reason: "unsupported WebSocket version " + strings.TrimSpace(v[0]) + ": only version 13 is supported",
			Header: http.Header{"Sec-WebSocket-Version": {"13"}}}
	}
	if k := r.Header[headerKeyKey]; len(k) != 1 || !validKey(k[0]) {
		return nil, &HandshakeError{Status: http.StatusBadRequest,
			Reason: "Sec-WebSocket-Key must be one base64-encoded 16-byte value"}
	}
	offer, err := protocol.OfferFromHeader(r.Header)
	switch {
	case errors.Is(err, protocol.ErrOfferTooLong):
		return nil, &HandshakeError{Status: http.StatusBadRequest,
			Reason: fmt.Sprintf("Sec-WebSocket-Protocol offers more than %d subprotocols", protocol.MaxOffer),
			Err:    err}
	case err != nil:
		return nil, &HandshakeError{Status: http.StatusBadRequest,
			Reason: "malformed Sec-WebSocket-Protocol: " + strings.TrimPrefix(err.Error(), protocol.ErrMalformedOffer.Error()+": "),
			Err:    err}
	}
	return offer, nil
}

// validTarget reports whether r's request target is one RFC 6455 allows:
// a path (origin-form), or an absolute http or https URI, whose host then
// stands for the Host header (RFC 9112 section 3.2.2).
func validTarget(r *http.Request) bool {
	if r.RequestURI == "" { // a request made in-process, not read off a connection
		return true
	}
	if strings.HasPrefix(r.RequestURI, "/") {
		return true
	}
	if r.URL == nil || r.URL.Host == "" {
		return false
	}
	return strings.EqualFold(r.URL.Scheme, "http") || strings.EqualFold(r.URL.Scheme, "https")
}

func validKey(k string) bool {
	k = strings.TrimSpace(k)
	if len(k) != 24 {
		return false
	}
	var b [18]byte // base64.StdEncoding.DecodedLen(24)
	n, err := base64.StdEncoding.Decode(b[:], []byte(k))
	return err == nil && n == 16
}

// headerHasToken reports whether a comma-separated header contains token,
// compared case-insensitively.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// cutExtension splits the first extension off a Sec-WebSocket-Extensions
// list: its name and its whole text (parameters included), trimmed, and
// the rest of the list.
func cutExtension(list string) (name, ext, rest string) {
	ext, rest, _ = strings.Cut(list, ",")
	name, _, _ = strings.Cut(ext, ";")
	return strings.TrimSpace(name), strings.TrimSpace(ext), rest
}

// SameOrigin reports whether r passes the default origin policy: it has no
// Origin header (it is not from a browser), or the origin's host (with its
// port) equals the request's Host, ignoring case.
func SameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

type originCheckedKey struct{}

// WithOriginChecked returns a copy of ctx saying that an earlier layer,
// such as an origin-checking middleware, has vetted the request's Origin
// against its own policy. Accept's default same-origin check lets such a
// request through; an explicit AcceptOptions.CheckOrigin still applies.
func WithOriginChecked(ctx context.Context) context.Context {
	return context.WithValue(ctx, originCheckedKey{}, true)
}

// originAllowed applies check to r, or by default the same-origin policy
// unless an earlier layer has vetted the origin.
func originAllowed(r *http.Request, check func(*http.Request) bool) bool {
	if check != nil {
		return check(r)
	}
	if vetted, _ := r.Context().Value(originCheckedKey{}).(bool); vetted {
		return true
	}
	return SameOrigin(r)
}
