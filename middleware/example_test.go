package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/wsmap/wsmap/middleware"
	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// wsURL turns an httptest server's URL into a ws:// URL.
func wsURL(srv *httptest.Server) string { return "ws" + strings.TrimPrefix(srv.URL, "http") }

// greet tells the client who it is.
var greet = service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
	who, _ := middleware.Identity(ctx)
	return c.Send(ctx, protocol.Text, []byte(fmt.Sprintf("hello, %v", who)))
})

// Auth checks a token before the upgrade and hands the identity to the
// handler. Browsers, which cannot set headers on a WebSocket handshake,
// can carry the token in a cookie or, as here, in the subprotocol offer.
func ExampleAuth() {
	m := &mux.Mux{}
	m.Use(middleware.Auth(&middleware.AuthOptions{
		Tokens: []middleware.TokenSource{middleware.BearerToken(), middleware.ProtocolToken("token.")},
		Verify: func(r *http.Request, token string) (any, error) {
			if token != "s3cret" {
				return nil, errors.New("unknown token")
			}
			return "ann", nil
		},
	}))
	m.Handle(`/greet`, greet, "greet.v1")
	srv := httptest.NewServer(m)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := service.Dial(ctx, wsURL(srv)+"/greet", &service.DialOptions{Subprotocols: []string{"greet.v1", "token.s3cret"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, msg, _ := c.Recv(ctx)
	fmt.Printf("%s (protocol %s)\n", msg, resp.Header.Get("Sec-WebSocket-Protocol"))
	_ = c.Close(protocol.CloseNormal, "")

	_, resp, err = service.Dial(ctx, wsURL(srv)+"/greet", nil)
	fmt.Println(resp.Status, errors.Is(err, service.ErrBadHandshake))
	// Output:
	// hello, ann (protocol greet.v1)
	// 401 Unauthorized true
}

// Origin lets chosen sites open connections besides the server's own.
func ExampleOrigin() {
	m := &mux.Mux{}
	m.Use(middleware.Origin(&middleware.OriginOptions{Allow: []string{"https://*.example.com"}}))
	m.Handle(`/greet`, greet)
	srv := httptest.NewServer(m)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, origin := range []string{"https://app.example.com", "https://evil.example.net"} {
		c, resp, err := service.Dial(ctx, wsURL(srv)+"/greet", &service.DialOptions{Header: http.Header{"Origin": {origin}}})
		if err == nil {
			_ = c.Close(protocol.CloseNormal, "")
		}
		fmt.Println(origin, resp.Status)
	}
	// Output:
	// https://app.example.com 101 Switching Protocols
	// https://evil.example.net 403 Forbidden
}

// ConnLimit refuses handshakes beyond its bound with 503 until a
// connection closes.
func ExampleConnLimit() {
	limit := middleware.ConnLimit(&middleware.ConnLimitOptions{Max: 1, RetryAfter: 10 * time.Second})
	m := &mux.Mux{}
	m.Use(limit)
	m.Handle(`/greet`, service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		_, _, err := c.Recv(ctx) // hold the connection until the client closes
		return err
	}))
	srv := httptest.NewServer(m)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	first, _, err := service.Dial(ctx, wsURL(srv)+"/greet", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, resp, _ := service.Dial(ctx, wsURL(srv)+"/greet", nil)
	fmt.Println("second:", resp.Status, "Retry-After", resp.Header.Get("Retry-After"))
	_ = first.Close(protocol.CloseNormal, "")
	// The slot frees once the connection has closed and its handler
	// returned.
	var third *service.Conn
	for third == nil && ctx.Err() == nil {
		third, _, err = service.Dial(ctx, wsURL(srv)+"/greet", nil)
		time.Sleep(time.Millisecond)
	}
	fmt.Println("third:", err == nil)
	if third != nil {
		_ = third.Close(protocol.CloseNormal, "")
	}
	// Output:
	// second: 503 Service Unavailable Retry-After 10
	// third: true
}

// Log writes one record when a connection opens and one when it ends.
// (This example drops the fields that change from run to run.)
func ExampleLog() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case "time", "remote", "duration":
				return slog.Attr{}
			}
			return a
		},
	}))
	m := &mux.Mux{}
	m.UseConn(middleware.Log(logger))
	m.Handle(`/greet`, greet)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &service.Server{Handler: m}
	go func() { _ = srv.Serve(l) }()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := service.Dial(ctx, "ws://"+l.Addr().String()+"/greet", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _, _ = c.Recv(ctx) // the greeting
	_, _, _ = c.Recv(ctx) // the close
	_ = srv.Shutdown(ctx) // waits for the handler, and so for its record
	// Output:
	// level=INFO msg="websocket open" route=/greet protocol=""
	// level=INFO msg="websocket closed" route=/greet protocol="" code=1000 reason="" msgs_in=0 bytes_in=0 msgs_out=1 bytes_out=12
}
