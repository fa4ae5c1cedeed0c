// Command echo is a WebSocket echo server: every message received on any
// path is sent back with the same type (text stays text, binary stays
// binary). Clients may offer the subprotocol "echo"; a client that offers
// only other protocols is refused with 400.
//
// Usage:
//
//	echo [-addr 127.0.0.1:8080] [-read-limit 16777216] [-compress]
//
// It prints "listening on HOST:PORT" once it accepts connections and
// serves until interrupted (SIGINT or SIGTERM), then closes every
// connection with 1001 (going away) and exits.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wsmap/wsmap/service"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on; port 0 picks a free port")
	readLimit := flag.Int64("read-limit", 16<<20, "largest message accepted, in bytes")
	compress := flag.Bool("compress", false, "negotiate permessage-deflate compression")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := service.Options{ReadLimit: *readLimit, Compression: *compress}
	if err := run(ctx, *addr, opts, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, addr string, opts service.Options, stdout io.Writer) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &service.Server{Handler: &service.Endpoint{
		Protocols: []string{"echo"},
		Handler:   service.HandlerFunc(echo),
		Options:   &opts,
	}}
	fmt.Fprintf(stdout, "listening on %s\n", l.Addr())
	return srv.ServeUntil(ctx, l, 10*time.Second)
}

// echo sends every message back until the client closes.
func echo(ctx context.Context, c *service.Conn) error {
	for {
		typ, data, err := c.Recv(ctx)
		if err != nil {
			return err
		}
		if err := c.Send(ctx, typ, data); err != nil {
			return err
		}
	}
}
