package service

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestDialRejectsProtocolNotOffered(t *testing.T) {
	t.Parallel()
	// A server that answers with a protocol of its own choosing.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{}
		ws, err := up.Upgrade(w, r, http.Header{"Sec-Websocket-Protocol": {"evil"}})
		if err == nil {
			_, _, _ = ws.ReadMessage()
			ws.Close()
		}
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	for _, offer := range [][]string{nil, {"good"}} {
		c, _, err := Dial(testCtx(t, 5*time.Second), url, &DialOptions{Subprotocols: offer})
		if !errors.Is(err, ErrProtocolNotOffered) {
			t.Errorf("offer %q: Dial = %v, %v; want ErrProtocolNotOffered", offer, c, err)
		}
	}
}

func TestDialErrors(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(&Endpoint{Protocols: []string{"a"}, Handler: HandlerFunc(func(context.Context, *Conn) error { return nil })})
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	_, resp, err := Dial(testCtx(t, 5*time.Second), url, &DialOptions{Subprotocols: []string{"b"}})
	if !errors.Is(err, ErrBadHandshake) || resp == nil || resp.StatusCode != 400 {
		t.Fatalf("unsupported protocol: %v, %v; want ErrBadHandshake with 400", err, resp)
	}
	body, _ := io.ReadAll(resp.Body)
	if want := "no offered subprotocol is supported; supported: a\n"; string(body) != want {
		t.Errorf("body %q, want %q", body, want)
	}
	if _, _, err := Dial(context.Background(), url, &DialOptions{Subprotocols: []string{"bad token"}}); err == nil {
		t.Error("invalid subprotocol token accepted")
	}
	if _, _, err := Dial(context.Background(), srv.URL, nil); err == nil {
		t.Error("http:// URL accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Dial(ctx, url, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Dial: %v", err)
	}
}

// TestDialRefusal checks what a refused Dial reports: a *HandshakeError
// with the server's status, headers and reason, whose message never
// repeats the URL's query or user information.
func TestDialRefusal(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/busy":
			w.Header().Set("Retry-After", "7")
			http.Error(w, "too many connections", http.StatusServiceUnavailable)
		case "/long":
			http.Error(w, strings.Repeat("é", 2000), http.StatusForbidden)
		case "/gzip":
			// as a compressing middleware answers Accept-Encoding: gzip
			w.Header().Set("Content-Encoding", "gzip")
			w.WriteHeader(http.StatusUnauthorized)
			zw := gzip.NewWriter(w)
			_, _ = io.WriteString(zw, "missing credentials\n")
			_ = zw.Close()
		default:
			(&Endpoint{Protocols: []string{"calc.v2", "calc.v1"}, Handler: HandlerFunc(func(context.Context, *Conn) error { return nil })}).ServeHTTP(w, r)
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		url    string
		opts   *DialOptions
		status int
		reason string
		header string // a header the error carries, "Name: value"
	}{
		{"ws://" + host + "/calc/abc?access_token=secret#frag", &DialOptions{Subprotocols: []string{"calc.v3"}},
			400, "no offered subprotocol is supported; supported: calc.v2, calc.v1", ""},
		{"ws://" + host + "/busy?token=secret", nil, 503, "too many connections", "Retry-After: 7"},
		{"ws://" + host + "/long?k=secret", nil, 403, strings.Repeat("é", maxRefusalReason/2) + "…", ""},
		{"ws://" + host + "/gzip", &DialOptions{Header: http.Header{"Accept-Encoding": {"gzip"}}}, 401, "missing credentials", "Content-Encoding: gzip"},
	}
	for _, tt := range tests {
		_, resp, err := Dial(testCtx(t, 5*time.Second), tt.url, tt.opts)
		var he *HandshakeError
		if !errors.As(err, &he) || !errors.Is(err, ErrBadHandshake) {
			t.Fatalf("%s: %v, want a *HandshakeError wrapping ErrBadHandshake", tt.url, err)
		}
		if he.Status != tt.status || he.Reason != tt.reason || resp == nil || resp.StatusCode != tt.status {
			t.Errorf("%s: %d %q, want %d %q", tt.url, he.Status, he.Reason, tt.status, tt.reason)
		}
		if name, value, ok := strings.Cut(tt.header, ": "); ok && he.Header.Get(name) != value {
			t.Errorf("%s: header %s = %q, want %q", tt.url, name, he.Header.Get(name), value)
		}
		msg := err.Error()
		for _, secret := range []string{"secret", "pass", "user", "frag", "?"} {
			if strings.Contains(msg, secret) {
				t.Errorf("the error repeats %q: %s", secret, msg)
			}
		}
		if !strings.Contains(msg, host) || !strings.Contains(msg, fmt.Sprint(tt.status)) {
			t.Errorf("the error does not say where and what: %s", msg)
		}
	}
	// gorilla refuses user information in a URL; the error does not
	// repeat it.
	if _, _, err := Dial(context.Background(), "ws://user:secret@"+host+"/", nil); err == nil || strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "user") {
		t.Errorf("URL with user information: %v", err)
	}
	// A URL that does not parse is not repeated either.
	if _, _, err := Dial(context.Background(), "ws://h/%zz?token=secret", nil); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("malformed URL: %v", err)
	}
}

// TestDialInterrupted checks that the end of Dial's ctx ends a handshake
// whose response does not come, at once rather than at the handshake
// timeout, with the context's error; and that a context that ends after
// Dial returns leaves the connection alone.
func TestDialInterrupted(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			defer nc.Close() // reads nothing, answers nothing, until the test ends
		}
	}()
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("the user gave up")
	time.AfterFunc(100*time.Millisecond, func() { cancel(cause) })
	start := time.Now()
	_, _, err = Dial(ctx, "ws://"+ln.Addr().String()+"/", &DialOptions{Options: &Options{HandshakeTimeout: 10 * time.Second}})
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Dial returned after %v, want soon after its ctx ended", d)
	}
	if !errors.Is(err, cause) {
		t.Errorf("Dial: %v, want the context's cause", err)
	}

	// A context ended after Dial returned.
	url, _ := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
		typ, data, err := c.Recv(ctx)
		if err != nil {
			return err
		}
		return c.Send(ctx, typ, data)
	})
	dctx, dcancel := context.WithCancel(context.Background())
	c, _, err := Dial(dctx, url, nil)
	dcancel()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(1000, "")
	time.Sleep(50 * time.Millisecond)
	ctx2 := testCtx(t, 5*time.Second)
	if err := c.Send(ctx2, 1, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if _, data, err := c.Recv(ctx2); err != nil || string(data) != "still here" {
		t.Errorf("after Dial's ctx ended: %q, %v", data, err)
	}
}
