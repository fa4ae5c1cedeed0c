package service_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsmap/wsmap/service"
)

// BenchmarkEcho measures a round trip over loopback: a gorilla client
// sends a binary message and reads the echo, from a server written with
// wsmap's Recv and Send (wsmap-into: RecvInto with a reused buffer), or
// from a plain gorilla ReadMessage/WriteMessage
// loop, in the same run. The client reuses its buffers, so allocations
// beyond the reference's are the server's.
//
//	go test -run XXX -bench Echo -count 6 ./service | go run ./internal/benchratio -ref gorilla
func BenchmarkEcho(b *testing.B) {
	servers := []struct {
		name string
		h    http.Handler
	}{
		{"wsmap", &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
			for {
				typ, data, err := c.Recv(ctx)
				if err != nil {
					return err
				}
				if err := c.Send(ctx, typ, data); err != nil {
					return err
				}
			}
		})}},
		{"wsmap-into", &service.Endpoint{Handler: echoInto}},
		{"gorilla", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var up websocket.Upgrader
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			for {
				typ, p, err := c.ReadMessage()
				if err != nil {
					return
				}
				if err := c.WriteMessage(typ, p); err != nil {
					return
				}
			}
		})},
	}
	for _, size := range []int{128, 64 << 10} {
		for _, s := range servers {
			b.Run(fmt.Sprintf("size=%d/%s", size, s.name), func(b *testing.B) {
				srv := httptest.NewServer(s.h)
				defer srv.Close()
				c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				msg := make([]byte, size)
				buf := make([]byte, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
						b.Fatal(err)
					}
					_, r, err := c.NextReader()
					if err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(r, buf); err != nil {
						b.Fatal(err)
					}
				}
				_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
			})
		}
	}
}

// echoInto echoes every message, received with RecvInto into one buffer.
var echoInto = service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
	var buf []byte
	for {
		typ, data, err := c.RecvInto(ctx, buf)
		if err != nil {
			return err
		}
		if err := c.Send(ctx, typ, data); err != nil {
			return err
		}
		buf = data
	}
})
