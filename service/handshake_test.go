package service

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/protocol"
)

func upgradeRequest(method string, extra ...string) *http.Request {
	r := httptest.NewRequest(method, "http://example.com/echo", nil)
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Connection", "keep-alive, Upgrade")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			r.Header.Del(extra[i])
		} else {
			r.Header.Add(extra[i], extra[i+1])
		}
	}
	return r
}

func TestEndpointRefusals(t *testing.T) {
	t.Parallel()
	e := &Endpoint{Protocols: []string{"echo.v1", "echo.v2"}, Handler: HandlerFunc(nil)}
	tests := []struct {
		name       string
		req        *http.Request
		wantStatus int
		wantBody   string
		wantHeader http.Header
	}{
		{"POST", upgradeRequest(http.MethodPost), 405, "WebSocket handshake must use GET, not POST\n", http.Header{"Allow": {"GET"}}},
		{"plain GET", httptest.NewRequest(http.MethodGet, "/echo", nil), 426, "this resource requires a WebSocket upgrade (Upgrade: websocket)\n", http.Header{"Upgrade": {"websocket"}}},
		{"no Connection upgrade", upgradeRequest("GET", "Connection", ""), 400, "Connection header must contain the upgrade token\n", nil},
		{"version 8", upgradeRequest("GET", "Sec-WebSocket-Version", "", "Sec-WebSocket-Version", "8"), 426, "unsupported WebSocket version 8: only version 13 is supported\n", http.Header{"Sec-Websocket-Version": {"13"}}},
		{"no version", upgradeRequest("GET", "Sec-WebSocket-Version", ""), 426, "Sec-WebSocket-Version is missing: only version 13 is supported\n", http.Header{"Sec-Websocket-Version": {"13"}}},
		{"no key", upgradeRequest("GET", "Sec-WebSocket-Key", ""), 400, "Sec-WebSocket-Key must be one base64-encoded 16-byte value\n", nil},
		{"short key", upgradeRequest("GET", "Sec-WebSocket-Key", "", "Sec-WebSocket-Key", "c2hvcnQ="), 400, "Sec-WebSocket-Key must be one base64-encoded 16-byte value\n", nil},
		{"two keys", upgradeRequest("GET", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), 400, "Sec-WebSocket-Key must be one base64-encoded 16-byte value\n", nil},
		{"malformed protocol", upgradeRequest("GET", "Sec-WebSocket-Protocol", "echo v1"), 400, "malformed Sec-WebSocket-Protocol: \"echo v1\" is not a token: byte ' ' at line 1, offset 4\n", nil},
		{"unsupported protocol", upgradeRequest("GET", "Sec-WebSocket-Protocol", "chat"), 400, "no offered subprotocol is supported; supported: echo.v1, echo.v2\n", nil},
		{"uppercase protocol", upgradeRequest("GET", "Sec-WebSocket-Protocol", "ECHO.V1"), 400, "no offered subprotocol is supported; supported: echo.v1, echo.v2\n", nil},
		{"cross origin", upgradeRequest("GET", "Origin", "https://evil.example"), 403, "origin \"https://evil.example\" is not allowed\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			e.ServeHTTP(w, tt.req)
			if w.Code != tt.wantStatus {
				t.Errorf("status %d, want %d", w.Code, tt.wantStatus)
			}
			if diff := cmp.Diff(tt.wantBody, w.Body.String()); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q, want text/plain", ct)
			}
			for k, v := range tt.wantHeader {
				if diff := cmp.Diff(v, w.Header().Values(k)); diff != "" {
					t.Errorf("header %s (-want +got):\n%s", k, diff)
				}
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	t.Parallel()
	supported := []string{"echo.v1", "echo.v2"}
	tests := []struct {
		name     string
		offer    protocol.Offer
		policy   protocol.Policy
		fallback bool
		want     string
		wantErr  bool
	}{
		{"no offer", nil, protocol.ClientOrder, false, "", false},
		{"client order", protocol.Offer{"echo.v2", "echo.v1"}, protocol.ClientOrder, false, "echo.v2", false},
		{"server order", protocol.Offer{"echo.v2", "echo.v1"}, protocol.ServerOrder, false, "echo.v1", false},
		{"no match", protocol.Offer{"x"}, protocol.ClientOrder, false, "", true},
		{"no match, fallback", protocol.Offer{"x"}, protocol.ClientOrder, true, "", false},
	}
	for _, tt := range tests {
		var err error // an interface: a typed nil would not compare equal to nil
		got, err := Negotiate(tt.offer, supported, tt.policy, tt.fallback)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%s: Negotiate = %q, %v; want %q, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
		var he *HandshakeError
		if tt.wantErr && (!errors.As(err, &he) || he.Status != 400) {
			t.Errorf("%s: %v, want a 400 *HandshakeError", tt.name, err)
		}
	}
}

func TestEndpointNegotiatesOverRealSockets(t *testing.T) {
	t.Parallel()
	url, _ := serve(t, &Endpoint{Protocols: []string{"echo.v1", "echo.v2"}, Handler: HandlerFunc(func(ctx context.Context, c *Conn) error {
		return c.Send(ctx, protocol.Text, []byte("proto="+c.Subprotocol()))
	})})
	for _, tt := range []struct {
		offer []string
		want  string
	}{
		{nil, "proto="},
		{[]string{"echo.v2", "echo.v1"}, "proto=echo.v2"},
		{[]string{"other", "echo.v1"}, "proto=echo.v1"},
	} {
		c := dial(t, url, &DialOptions{Subprotocols: tt.offer})
		_, msg, err := c.Recv(testCtx(t, 5*time.Second))
		if err != nil || string(msg) != tt.want || c.Subprotocol() != strings.TrimPrefix(tt.want, "proto=") {
			t.Errorf("offer %q: %q %v (client sees %q), want %q", tt.offer, msg, err, c.Subprotocol(), tt.want)
		}
	}
}
