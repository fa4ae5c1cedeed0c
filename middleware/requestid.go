package middleware

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
)

// RequestIDOptions configures RequestID.
type RequestIDOptions struct {
	// Header is the request and response header that carries the ID.
	// Defaults to "X-Request-Id".
	Header string

	// TrustIncoming reuses the ID a request already carries in Header
	// (set by a proxy in front), if it is 1 to 128 characters of letters,
	// digits and "-._~:/+=". Off by default: a client could otherwise
	// choose the IDs in your logs.
	TrustIncoming bool
}

// RequestID returns handshake middleware that gives every request an ID:
// the incoming one if trusted, else 128 random bits in hex. Handlers read
// it with RequestIDFrom on the request's or the connection's context;
// the response (the 101 of a handshake too) carries it in the header.
func RequestID(opts *RequestIDOptions) func(http.Handler) http.Handler {
	var o RequestIDOptions
	if opts != nil {
		o = *opts
	}
	header := o.Header
	if header == "" {
		header = "X-Request-Id"
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := ""
			if o.TrustIncoming {
				if in := r.Header.Get(header); validRequestID(in) {
					id = in
				}
			}
			if id == "" {
				var b [16]byte
				_, _ = rand.Read(b[:]) // never fails (crypto/rand)
				id = hex.EncodeToString(b[:])
			}
			w.Header().Set(header, id)
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
		})
	}
}

type requestIDKey struct{}

// RequestIDFrom returns the ID RequestID gave the request that ctx (a
// request's or a connection's context) comes from, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~' || c == ':' || c == '/' || c == '+' || c == '=':
		default:
			return false
		}
	}
	return true
}
