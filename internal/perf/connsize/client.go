package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// clientConfig is what the client process is asked to do.
type clientConfig struct {
	url      string
	conns    int
	sources  int // loopback source addresses, 127.0.0.1 and up
	messages int // messages each connection sends once open
	parallel int // handshakes under way at once
}

// runClient opens cfg.conns connections to cfg.url, sends each one's
// messages, prints "connected N" on stdout, and holds the connections,
// answering the server's pings, until its standard input ends. Every
// connection reads on a goroutine of its own, which answers pings (as
// gorilla's default ping handler does while reading).
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
			}
		})
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		return *p
	}
	for _, c := range conns {
		go drain(c)
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
	c, resp, err := d.DialContext(ctx, fmt.Sprintf("%s/%d", cfg.url, i), http.Header{})
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
