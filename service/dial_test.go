package service

import (
	"context"
	"errors"
	"io"
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
