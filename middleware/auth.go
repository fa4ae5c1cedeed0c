package middleware

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// ErrForbidden, returned (or wrapped) by an AuthOptions.Verify function,
// refuses the handshake with 403 Forbidden: the credentials are valid but
// do not grant access. The error's text is the reason sent.
var ErrForbidden = errors.New("middleware: forbidden")

// TokenSource says where a request carries its credentials; see the
// functions that return one.
type TokenSource struct {
	kind tokenKind
	name string
}

type tokenKind int

const (
	bearerToken tokenKind = iota
	headerToken
	cookieToken
	queryToken
	protocolToken
)

// BearerToken takes the token from an "Authorization: Bearer <token>"
// header. Browsers cannot set headers on a WebSocket handshake; other
// clients can.
func BearerToken() TokenSource { return TokenSource{kind: bearerToken} }

// HeaderToken takes the whole value of the named header.
func HeaderToken(name string) TokenSource { return TokenSource{kind: headerToken, name: name} }

// CookieToken takes the value of the named cookie, which a browser sends
// with its handshake to the cookie's site.
func CookieToken(name string) TokenSource { return TokenSource{kind: cookieToken, name: name} }

// QueryToken takes the named query parameter, as in
// "wss://host/chat?access_token=…". Query strings tend to end up in
// access logs: prefer short-lived tokens there.
func QueryToken(name string) TokenSource { return TokenSource{kind: queryToken, name: name} }

// ProtocolToken takes the token from an entry of the client's
// Sec-WebSocket-Protocol offer that starts with prefix, as in
// new WebSocket(url, ["chat.v1", "access_token.<token>"]) with prefix
// "access_token.". Every entry with the prefix is removed from the offer
// before it reaches the handler, so the token is never selected nor
// echoed back. The client must offer a real protocol beside it, since a
// browser fails a connection whose server selects none of several offered
// protocols. A token carried this way must be a valid header token (no
// spaces, commas or slashes): base64url or hex, not plain base64.
func ProtocolToken(prefix string) TokenSource { return TokenSource{kind: protocolToken, name: prefix} }

// AuthOptions configures Auth.
type AuthOptions struct {
	// Verify checks a token and returns the identity it stands for, which
	// handlers read with Identity. Its error refuses the handshake: a
	// *service.HandshakeError with its own status and reason, ErrForbidden
	// (or an error wrapping it) with 403, anything else with 401 and the
	// reason "invalid credentials". Required.
	Verify func(r *http.Request, token string) (identity any, err error)

	// Tokens are the places to look for the token, tried in order; the
	// first one present is verified. Defaults to BearerToken().
	Tokens []TokenSource

	// Challenge is the WWW-Authenticate header sent with a 401. Defaults
	// to "Bearer".
	Challenge string
}

// Auth returns handshake middleware that authenticates every request
// before it is upgraded (or served, for plain requests): a request
// without a token is refused with 401 and the reason "missing
// credentials", one whose token Verify rejects as Verify's error says.
// An accepted request carries the identity in its context, which the
// connection's context keeps.
func Auth(opts *AuthOptions) func(http.Handler) http.Handler {
	var o AuthOptions
	if opts != nil {
		o = *opts
	}
	if o.Verify == nil {
		panic("middleware: Auth without a Verify function")
	}
	sources := o.Tokens
	if len(sources) == 0 {
		sources = []TokenSource{BearerToken()}
	}
	challenge := o.Challenge
	if challenge == "" {
		challenge = "Bearer"
	}
	unauthorized := func(w http.ResponseWriter, reason string) {
		refuse(w, http.StatusUnauthorized, reason, http.Header{"Www-Authenticate": {challenge}})
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r = stripProtocolTokens(r, sources)
			token, ok := findToken(r, sources)
			if !ok {
				unauthorized(w, "missing credentials")
				return
			}
			id, err := o.Verify(r, token)
			var he *service.HandshakeError
			switch {
			case err == nil:
			case errors.As(err, &he):
				he.WriteResponse(w)
				return
			case errors.Is(err, ErrForbidden):
				refuse(w, http.StatusForbidden, strings.TrimPrefix(err.Error(), "middleware: "), nil)
				return
			default:
				unauthorized(w, "invalid credentials")
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, identity{id})))
		})
	}
}

type identityKey struct{}

// identity boxes the value so that a nil identity is still "present".
type identity struct{ v any }

// Identity returns the identity Auth attached to ctx (a request's or a
// connection's context), and whether there is one.
func Identity(ctx context.Context) (any, bool) {
	id, ok := ctx.Value(identityKey{}).(identity)
	return id.v, ok
}

// findToken returns the first token sources find in r. r's offer has
// already lost its protocol tokens; they are read from the original.
func findToken(r *http.Request, sources []TokenSource) (string, bool) {
	for _, s := range sources {
		var tok string
		switch s.kind {
		case bearerToken:
			scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " ")
			if ok && strings.EqualFold(scheme, "Bearer") {
				tok = strings.TrimSpace(cred)
			}
		case headerToken:
			tok = r.Header.Get(s.name)
		case cookieToken:
			if c, err := r.Cookie(s.name); err == nil {
				tok = c.Value
			}
		case queryToken:
			tok = r.URL.Query().Get(s.name)
		case protocolToken:
			tok, _ = r.Context().Value(protocolTokenKey{s.name}).(string)
		}
		if tok != "" {
			return tok, true
		}
	}
	return "", false
}

type protocolTokenKey struct{ prefix string }

// stripProtocolTokens removes the offer entries that carry a token from a
// copy of r, keeping the first token of each prefix in the copy's
// context for findToken. A malformed offer is left for the handshake
// check to refuse.
func stripProtocolTokens(r *http.Request, sources []TokenSource) *http.Request {
	var prefixes []string
	for _, s := range sources {
		if s.kind == protocolToken && s.name != "" {
			prefixes = append(prefixes, s.name)
		}
	}
	if len(prefixes) == 0 || len(r.Header.Values(protocol.HeaderProtocol)) == 0 {
		return r
	}
	offer, err := protocol.OfferFromHeader(r.Header)
	if err != nil {
		return r
	}
	ctx := r.Context()
	var kept []string
	stripped := false
	for _, p := range offer {
		prefix := ""
		for _, pre := range prefixes {
			if strings.HasPrefix(p, pre) {
				prefix = pre
				break
			}
		}
		if prefix == "" {
			kept = append(kept, p)
			continue
		}
		stripped = true
		if _, seen := ctx.Value(protocolTokenKey{prefix}).(string); !seen {
			ctx = context.WithValue(ctx, protocolTokenKey{prefix}, p[len(prefix):])
		}
	}
	if !stripped {
		return r
	}
	r = r.Clone(ctx)
	r.Header.Del(protocol.HeaderProtocol)
	if len(kept) > 0 {
		r.Header.Set(protocol.HeaderProtocol, strings.Join(kept, ", "))
	}
	return r
}
