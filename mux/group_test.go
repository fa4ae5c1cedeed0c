package mux

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
	"github.com/wsmap/wsmap/wsmaptest"
)

func TestGroup(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var order []string
	record := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, s)
	}
	handshake := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { record(name); next.ServeHTTP(w, r) })
		}
	}
	conn := func(name string) func(service.Handler) service.Handler {
		return func(next service.Handler) service.Handler {
			return service.HandlerFunc(func(ctx context.Context, c *service.Conn) error { record(name); return next.ServeWS(ctx, c) })
		}
	}
	done := make(chan struct{}, 3)
	handler := service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		record("handler " + c.Request().Pattern)
		done <- struct{}{}
		return nil
	})
	m := &Mux{}
	m.Use(handshake("mux"))
	g := m.Group(handshake("group")).UseConn(conn("group conn"))
	g.Handle(`/in/a`, handler)
	if err := g.Add(Route{Pattern: `/in/b`, NoProtocol: handler,
		Middleware: []func(http.Handler) http.Handler{handshake("route")}}); err != nil {
		t.Fatal(err)
	}
	m.Handle(`/out`, handler)
	if err := g.Add(Route{Pattern: `/out`, NoProtocol: handler}); err == nil || !strings.Contains(err.Error(), "group_test.go:") {
		t.Errorf("duplicate through a group: %v, want an error naming this file", err)
	}

	srv := wsmaptest.NewServer(t, m)
	for _, tt := range []struct{ path, want string }{
		{"/in/a", "mux,group,group conn,handler /in/a"},
		{"/in/b", "mux,group,route,group conn,handler /in/b"},
		{"/out", "mux,handler /out"},
	} {
		mu.Lock()
		order = nil
		mu.Unlock()
		c, err := srv.Dial(context.Background(), tt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		<-done
		_ = c.Close(protocol.CloseNormal, "")
		mu.Lock()
		got := strings.Join(order, ",")
		mu.Unlock()
		if got != tt.want {
			t.Errorf("%s: %s, want %s", tt.path, got, tt.want)
		}
	}
}
