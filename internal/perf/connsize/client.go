package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// clientConfig is what the client process is asked to do.
type clientConfig struct {
	url      string
	conns    int
	sources  int  // loopback source addresses, 127.0.0.1 and up
	messages int  // messages each connection sends once open
	parallel int  // handshakes under way at once
	browser  bool // send the headers a browser sends
}

// browserHeader returns the headers a browser's WebSocket handshake
// carries besides those gorilla's dialer writes (Host, Upgrade,
// Connection, Sec-WebSocket-Key, -Version and -Protocol): Chrome's, with
// a session cookie.
func browserHeader(url string) http.Header {
	origin := "http://" + strings.TrimPrefix(url, "ws://")
	origin = origin[:strings.Index(origin[len("http://"):], "/")+len("http://")]
	return http.Header{
		"Origin":          {origin},
		"User-Agent":      {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"},
		"Accept-Encoding": {"gzip, deflate, br, zstd"},
		"Accept-Language": {"en-US,en;q=0.9"},
		"Cache-Control":   {"no-cache"},
		"Pragma":          {"no-cache"},
		"Cookie":          {"session=Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG8"},
	}
}

// runClient opens cfg.conns connections to cfg.url, sends each one's
// messages, prints "connected N" on stdout, and holds the connections,
// answering the server's pings, until its standard input ends. Every
// connection reads, from the moment it is open, on a goroutine of its
// own, which answers pings (as gorilla's default ping handler does while
// reading).
func runClient(cfg clientConfig) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conns := make([]*websocket.Conn, cfg.conns)
	var failed atomic.Pointer[error]
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range max(cfg.parallel, 1) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.conns || failed.Load() != nil {
					return
				}
				c, err := dialOne(ctx, cfg, i)
				if err != nil {
					err = fmt.Errorf("connection %d: %w", i, err)
					failed.CompareAndSwap(nil, &err)
					return
				}
				conns[i] = c
				go drain(c) // at once: the server's keepalive pings begin before the last connection opens
			}
		})
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		return *p
	}
	fmt.Printf("connected %d\n", cfg.conns)
	// Hold until the server's process closes our input (or exits).
	_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
	for _, c := range conns {
		_ = c.Close()
	}
	return nil
}

// dialOne opens connection i, from its source address, offering the
// subprotocol "echo", and sends its messages.
func dialOne(ctx context.Context, cfg clientConfig, i int) (*websocket.Conn, error) {
	nd := &net.Dialer{}
	if cfg.sources > 1 {
		nd.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, byte((1+i%cfg.sources)>>8), byte(1+i%cfg.sources))}
	}
	d := websocket.Dialer{
		NetDialContext:   nd.DialContext,
		Subprotocols:     []string{"echo"},
		HandshakeTimeout: time.Minute,
		ReadBufferSize:   256,
		WriteBufferSize:  256,
	}
	h := http.Header{}
	if cfg.browser {
		h = browserHeader(cfg.url)
		d.EnableCompression = true // Sec-WebSocket-Extensions, which the server does not take up
	}
	c, resp, err := d.DialContext(ctx, fmt.Sprintf("%s/%d", cfg.url, i), h)
	if err != nil {
		return nil, err
	}
	_ = resp.Body.Close()
	for range cfg.messages {
		if err := c.WriteMessage(websocket.TextMessage, []byte("hello")); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	return c, nil
}

// drain reads c until it fails, which answers the server's pings.
func drain(c *websocket.Conn) {
	for {
		if _, _, err := c.NextReader(); err != nil {
			return
		}
	}
}
