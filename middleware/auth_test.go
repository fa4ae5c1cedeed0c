package middleware_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/wsmap/wsmap/middleware"
	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// verify accepts "good-<name>" as the user <name>, refuses "banned" with
// 403, "teapot" with a handshake error of its own, anything else with 401.
func verify(r *http.Request, token string) (any, error) {
	switch {
	case strings.HasPrefix(token, "good-"):
		return "user:" + strings.TrimPrefix(token, "good-"), nil
	case token == "banned":
		return nil, fmt.Errorf("%w: this account is suspended", middleware.ErrForbidden)
	case token == "teapot":
		return nil, &service.HandshakeError{Status: http.StatusTeapot, Reason: "short and stout"}
	}
	return nil, fmt.Errorf("unknown token %q", token)
}

func TestAuth(t *testing.T) {
	t.Parallel()
	m := &mux.Mux{}
	m.Use(middleware.Auth(&middleware.AuthOptions{
		Verify: verify,
		Tokens: []middleware.TokenSource{
			middleware.BearerToken(), middleware.CookieToken("session"),
			middleware.QueryToken("access_token"), middleware.ProtocolToken("access_token."),
		},
		Challenge: `Bearer realm="chat"`,
	}))
	m.Handle(`/ws`, commands, "chat")
	base := serve(t, m)

	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	for _, tt := range []struct {
		name      string
		query     string
		header    http.Header
		offer     []string
		status    int
		reason    string // a part of the refusal's reason
		identity  string // the handler's answer to "whoami"
		protocol  string // negotiated
		challenge bool   // a 401 carries WWW-Authenticate
	}{
		{name: "no token", status: 401, reason: "missing credentials", challenge: true},
		{name: "bad bearer", header: bearer("nope"), status: 401, reason: "invalid credentials", challenge: true},
		{name: "wrong scheme", header: http.Header{"Authorization": {"Basic Zm9vOmJhcg=="}}, status: 401, reason: "missing credentials", challenge: true},
		{name: "forbidden", header: bearer("banned"), status: 403, reason: "forbidden: this account is suspended"},
		{name: "own refusal", header: bearer("teapot"), status: 418, reason: "short and stout"},
		{name: "bearer", header: bearer("good-ann"), status: 101, identity: "user:ann true"},
		{name: "cookie", header: http.Header{"Cookie": {"session=good-bob"}}, status: 101, identity: "user:bob true"},
		{name: "query", query: "?access_token=good-cy", status: 101, identity: "user:cy true"},
		{name: "bad query", query: "?access_token=bad", status: 401, reason: "invalid credentials", challenge: true},
		{name: "protocol token", offer: []string{"chat", "access_token.good-dee"}, status: 101, identity: "user:dee true", protocol: "chat"},
		{name: "protocol token first", offer: []string{"access_token.good-eve", "chat"}, status: 101, identity: "user:eve true", protocol: "chat"},
		{name: "protocol token alone", offer: []string{"access_token.good-fay"}, status: 101, identity: "user:fay true"},
		{name: "bad protocol token", offer: []string{"chat", "access_token.x"}, status: 401, reason: "invalid credentials", challenge: true},
		{name: "bearer first", header: bearer("good-gus"), offer: []string{"chat", "access_token.good-hal"}, status: 101, identity: "user:gus true", protocol: "chat"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := dial(t, base+"/ws"+tt.query, tt.header, tt.offer...)
			if res.status != tt.status {
				t.Fatalf("status %d %q, want %d", res.status, res.body, tt.status)
			}
			if got := res.header.Get("WWW-Authenticate"); tt.challenge != (got == `Bearer realm="chat"`) {
				t.Errorf("WWW-Authenticate %q on a %d", got, res.status)
			}
			if tt.status != 101 {
				if !strings.Contains(res.body, tt.reason) {
					t.Errorf("reason %q, want it to contain %q", res.body, tt.reason)
				}
				return
			}
			if got := res.conn.Subprotocol(); got != tt.protocol {
				t.Errorf("negotiated %q, want %q", got, tt.protocol)
			}
			if got := res.header.Values(protocol.HeaderProtocol); strings.Contains(strings.Join(got, ","), "access_token") {
				t.Errorf("the response echoes the token: %q", got)
			}
			if got := ask(t, res.conn, "whoami"); got != tt.identity {
				t.Errorf("identity %q, want %q", got, tt.identity)
			}
			if got := ask(t, res.conn, "offer"); strings.Contains(got, "access_token") {
				t.Errorf("the handler sees the token in the offer: %q", got)
			}
		})
	}
}

func TestIdentityAbsent(t *testing.T) {
	t.Parallel()
	m := &mux.Mux{}
	m.Handle(`/ws`, commands)
	res := dial(t, serve(t, m)+"/ws", nil)
	if got := ask(t, res.conn, "whoami"); got != "<nil> false" {
		t.Errorf("identity without Auth: %q", got)
	}
}
