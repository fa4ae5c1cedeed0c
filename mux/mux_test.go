package mux

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
	"github.com/wsmap/wsmap/wsmaptest"
)

// replyWith returns a handler that answers each message with prefix+msg.
func replyWith(prefix func(c *service.Conn) string) service.Handler {
	return service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		for {
			typ, data, err := c.Recv(ctx)
			if err != nil {
				return err
			}
			if err := c.Send(ctx, typ, append([]byte(prefix(c)), data...)); err != nil {
				return err
			}
		}
	})
}

func fixed(s string) service.Handler {
	return replyWith(func(*service.Conn) string { return s })
}

// racketTable is the test table of Racket's rfc6455 package, plus routes
// for the policies and fallbacks wsmap adds.
func racketTable() []Route {
	return []Route{
		{Pattern: `^/echo$`, Protocols: []Protocol{{Name: "echo.v2", Handler: fixed("v2:")}, {Name: "echo.v1", Handler: fixed("v1:")}}, NoProtocol: fixed("")},
		{Pattern: `/chat/(?P<room>[a-z]+)`, NoProtocol: replyWith(func(c *service.Conn) string {
			return c.Request().URL.Path + ":" + c.Param("room") + ":"
		})},
		{Pattern: `/server-order`, Protocols: []Protocol{{Name: "echo.v1", Handler: fixed("v1:")}, {Name: "echo.v2", Handler: fixed("v2:")}}, Policy: protocol.ServerOrder},
		{Pattern: `/fallback`, Protocols: []Protocol{{Name: "echo.v1", Handler: fixed("v1:")}}, NoProtocol: fixed("plain:"), FallbackNoMatch: true},
		{Pattern: `/page`, NoProtocol: fixed("socket:"), HTTP: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("the page"))
		})},
		{Pattern: `/chat/(?P<room>.*)`, NoProtocol: fixed("second:")}, // shadowed for [a-z]+ rooms
	}
}

func TestHandshakeTable(t *testing.T) {
	t.Parallel()
	m := MustNew(racketTable()...)
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	tests := []struct {
		name       string
		method     string
		target     string
		headers    []string
		wantStatus int
		wantProto  string // for 101
		wantReply  string // reply to "hi", for 101
		wantBody   string // the plain-text reason, otherwise
		wantHeader string // "Name: value" the response must have
	}{
		{name: "client order v1 first", target: "/echo", headers: []string{"Sec-WebSocket-Protocol: echo.v1, echo.v2"}, wantStatus: 101, wantProto: "echo.v1", wantReply: "v1:hi"},
		{name: "client order v2 first", target: "/echo", headers: []string{"Sec-WebSocket-Protocol: echo.v2, echo.v1"}, wantStatus: 101, wantProto: "echo.v2", wantReply: "v2:hi"},
		{name: "server order v1 first", target: "/server-order", headers: []string{"Sec-WebSocket-Protocol: echo.v1, echo.v2"}, wantStatus: 101, wantProto: "echo.v1", wantReply: "v1:hi"},
		{name: "server order v2 first", target: "/server-order", headers: []string{"Sec-WebSocket-Protocol: echo.v2, echo.v1"}, wantStatus: 101, wantProto: "echo.v1", wantReply: "v1:hi"},
		{name: "no header", target: "/echo", wantStatus: 101, wantProto: "", wantReply: "hi"},
		{name: "empty header", target: "/echo", headers: []string{"Sec-WebSocket-Protocol: "}, wantStatus: 101, wantProto: "", wantReply: "hi"},
		{name: "two header lines", target: "/echo", headers: []string{"Sec-WebSocket-Protocol: other", "Sec-WebSocket-Protocol: echo.v1"}, wantStatus: 101, wantProto: "echo.v1", wantReply: "v1:hi"},
		{name: "unsupported offer", target: "/echo", headers: []string{"Sec-WebSocket-Protocol: chat"}, wantStatus: 400, wantBody: "no offered subprotocol is supported; supported: echo.v2, echo.v1"},
		{name: "unsupported offer, fallback", target: "/fallback", headers: []string{"Sec-WebSocket-Protocol: chat"}, wantStatus: 101, wantProto: "", wantReply: "plain:hi"},
		{name: "supported offer, fallback route", target: "/fallback", headers: []string{"Sec-WebSocket-Protocol: chat, echo.v1"}, wantStatus: 101, wantProto: "echo.v1", wantReply: "v1:hi"},
		{name: "protocol required", target: "/server-order", wantStatus: 400, wantBody: "this service requires a subprotocol; supported: echo.v1, echo.v2"},
		{name: "malformed offer", target: "/echo", headers: []string{"Sec-WebSocket-Protocol: echo v1"}, wantStatus: 400, wantBody: `malformed Sec-WebSocket-Protocol: "echo v1" is not a token: byte ' ' at line 1, offset 4`},
		{name: "uppercase spelling", target: "/echo", headers: []string{"Sec-WebSocket-Protocol: ECHO.V1"}, wantStatus: 400, wantBody: "no offered subprotocol is supported; supported: echo.v2, echo.v1"},
		{name: "query string", target: "/echo?x=1&y=2", wantStatus: 101, wantReply: "hi"},
		{name: "captures", target: "/chat/lobby", wantStatus: 101, wantReply: "/chat/lobby:lobby:hi"},
		{name: "percent-encoded path", target: "/chat/l%6Fbby", wantStatus: 101, wantReply: "/chat/lobby:lobby:hi"},
		{name: "first match wins", target: "/chat/Lobby-2", wantStatus: 101, wantReply: "second:hi"},
		{name: "no route", target: "/nope", wantStatus: 404, wantBody: `no WebSocket service at "/nope"`},
		{name: "anchored", target: "/echo/more", wantStatus: 404, wantBody: `no WebSocket service at "/echo/more"`},
		{name: "plain GET with HTTP fallback", target: "/page", headers: []string{"Upgrade:", "Connection:", "Sec-WebSocket-Key:", "Sec-WebSocket-Version:"}, wantStatus: 200, wantBody: "the page"},
		{name: "upgrade on the page route", target: "/page", wantStatus: 101, wantReply: "socket:hi"},
		{name: "plain GET without fallback", target: "/echo", headers: []string{"Upgrade:", "Connection:", "Sec-WebSocket-Key:", "Sec-WebSocket-Version:"}, wantStatus: 426, wantBody: "this resource requires a WebSocket upgrade (Upgrade: websocket)", wantHeader: "Upgrade: websocket"},
		{name: "version 8", target: "/echo", headers: []string{"Sec-WebSocket-Version:", "Sec-WebSocket-Version: 8"}, wantStatus: 426, wantBody: "unsupported WebSocket version 8: only version 13 is supported", wantHeader: "Sec-WebSocket-Version: 13"},
		{name: "POST", method: "POST", target: "/echo", headers: []string{"Content-Length: 0"}, wantStatus: 405, wantBody: "WebSocket handshake must use GET, not POST", wantHeader: "Allow: GET"},
		{name: "bad key", target: "/echo", headers: []string{"Sec-WebSocket-Key:", "Sec-WebSocket-Key: short"}, wantStatus: 400, wantBody: "Sec-WebSocket-Key must be one base64-encoded 16-byte value"},
		{name: "cross origin", target: "/echo", headers: []string{"Origin: https://evil.example"}, wantStatus: 403, wantBody: `origin "https://evil.example" is not allowed`},
		// A handshake fault is answered as such whatever the offer holds.
		{name: "bad key and unsupported offer", target: "/echo", headers: []string{"Sec-WebSocket-Key:", "Sec-WebSocket-Key: short", "Sec-WebSocket-Protocol: chat"}, wantStatus: 400, wantBody: "Sec-WebSocket-Key must be one base64-encoded 16-byte value"},
		{name: "version 8, protocol required", target: "/server-order", headers: []string{"Sec-WebSocket-Version:", "Sec-WebSocket-Version: 8"}, wantStatus: 426, wantBody: "unsupported WebSocket version 8: only version 13 is supported", wantHeader: "Sec-WebSocket-Version: 13"},
		{name: "POST with malformed offer", method: "POST", target: "/echo", headers: []string{"Content-Length: 0", "Sec-WebSocket-Protocol: echo v1"}, wantStatus: 405, wantBody: "WebSocket handshake must use GET, not POST", wantHeader: "Allow: GET"},
		{name: "cross origin, supported offer", target: "/echo", headers: []string{"Origin: https://evil.example", "Sec-WebSocket-Protocol: echo.v1"}, wantStatus: 403, wantBody: `origin "https://evil.example" is not allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			method := tt.method
			if method == "" {
				method = "GET"
			}
			c, resp, err := wstest.Request(addr, wstest.UpgradeRequest(method, tt.target, addr, tt.headers...))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %s, want %d", resp.Status, tt.wantStatus)
			}
			if tt.wantHeader != "" {
				name, value, _ := strings.Cut(tt.wantHeader, ": ")
				if got := resp.Header.Values(name); len(got) != 1 || got[0] != value {
					t.Errorf("header %s = %q, want %q", name, got, value)
				}
			}
			if tt.wantStatus != 101 {
				body, _ := readAll(resp)
				if body != tt.wantBody+"\n" && body != tt.wantBody {
					t.Errorf("body %q, want %q", body, tt.wantBody)
				}
				if _, ok := resp.Header["Sec-Websocket-Protocol"]; ok {
					t.Errorf("refusal carries Sec-WebSocket-Protocol %q", resp.Header.Get("Sec-WebSocket-Protocol"))
				}
				return
			}
			defer c.Close()
			if got := resp.Header.Values("Sec-WebSocket-Protocol"); tt.wantProto == "" && len(got) != 0 || tt.wantProto != "" && (len(got) != 1 || got[0] != tt.wantProto) {
				t.Errorf("answered protocol %q, want %q", got, tt.wantProto)
			}
			if err := c.WriteMessage(wstest.OpText, []byte("hi")); err != nil {
				t.Fatal(err)
			}
			_, reply, err := c.ReadMessage(5 * time.Second)
			if err != nil || string(reply) != tt.wantReply {
				t.Errorf("reply %q (%v), want %q", reply, err, tt.wantReply)
			}
			_ = c.WriteClose(1000, "")
			_, _ = c.ExpectClose(5 * time.Second)
		})
	}
}

func readAll(resp *http.Response) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1024)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String(), nil
		}
	}
}

func TestNotFoundHandler(t *testing.T) {
	t.Parallel()
	m := &Mux{NotFound: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "custom", http.StatusTeapot)
	})}
	m.Handle(`/a`, fixed(""))
	w := httptest.NewRecorder()
	m.ServeHTTP(w, httptest.NewRequest("GET", "/b", nil))
	if w.Code != http.StatusTeapot || w.Body.String() != "custom\n" {
		t.Errorf("got %d %q", w.Code, w.Body.String())
	}
}

func TestUseAndUseConn(t *testing.T) {
	t.Parallel()
	var order []string
	record := func(s string) { order = append(order, s) }
	m := &Mux{}
	m.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { record("mux handshake"); next.ServeHTTP(w, r) })
	})
	m.UseConn(func(next service.Handler) service.Handler {
		return service.HandlerFunc(func(ctx context.Context, c *service.Conn) error { record("mux conn"); return next.ServeWS(ctx, c) })
	})
	done := make(chan struct{})
	if err := m.Add(Route{
		Pattern: `/x`,
		Middleware: []func(http.Handler) http.Handler{func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { record("route handshake"); next.ServeHTTP(w, r) })
		}},
		ConnMiddleware: []func(service.Handler) service.Handler{func(next service.Handler) service.Handler {
			return service.HandlerFunc(func(ctx context.Context, c *service.Conn) error { record("route conn"); return next.ServeWS(ctx, c) })
		}},
		NoProtocol: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error { record("handler"); close(done); return nil }),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := wsmaptest.NewServer(t, m).Dial(context.Background(), "/x", nil); err != nil {
		t.Fatal(err)
	}
	<-done
	want := "mux handshake,route handshake,mux conn,route conn,handler"
	if got := strings.Join(order, ","); got != want {
		t.Errorf("order %s, want %s", got, want)
	}
	defer func() {
		if recover() == nil {
			t.Error("Use after serving did not panic")
		}
	}()
	m.Use(func(h http.Handler) http.Handler { return h })
}
