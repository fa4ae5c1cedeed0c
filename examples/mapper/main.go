// Command mapper serves the test table of Racket's rfc6455 package with
// wsmap's service mapper:
//
//	/echo                 echo.v2: replies "v2:" + message
//	                      echo.v1: replies "v1:" + message
//	                      no subprotocol: replies with the message
//	/chat/(?P<room>[a-z]+) no subprotocol: replies path + ":" + message
//
// Usage:
//
//	mapper [-addr 127.0.0.1:8080] [-routes]
//
// With -routes it prints the route table and exits. Otherwise it prints
// "listening on HOST:PORT" once it accepts connections and serves until
// interrupted (SIGINT or SIGTERM), then closes every connection with 1001
// (going away) and exits.
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

	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/service"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on; port 0 picks a free port")
	routes := flag.Bool("routes", false, "print the route table and exit")
	flag.Parse()

	m := newMux()
	if *routes {
		if err := m.WriteRoutes(os.Stdout); err != nil {
			log.Fatal(err)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, m, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// newMux builds the Racket test table.
func newMux() *mux.Mux {
	return mux.MustNew(
		mux.Route{
			Pattern: `/echo`,
			Protocols: []mux.Protocol{
				{Name: "echo.v2", Handler: reply(func(*service.Conn) string { return "v2:" })},
				{Name: "echo.v1", Handler: reply(func(*service.Conn) string { return "v1:" })},
			},
			NoProtocol: reply(func(*service.Conn) string { return "" }),
		},
		mux.Route{
			Pattern:    `/chat/(?P<room>[a-z]+)`,
			NoProtocol: reply(func(c *service.Conn) string { return c.Request().URL.Path + ":" }),
		},
	)
}

// reply answers every message with prefix(c) + the message, keeping its
// type.
func reply(prefix func(c *service.Conn) string) service.Handler {
	return service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		p := []byte(prefix(c))
		for {
			typ, data, err := c.Recv(ctx)
			if err != nil {
				return err
			}
			if err := c.Send(ctx, typ, append(p[:len(p):len(p)], data...)); err != nil {
				return err
			}
		}
	})
}

// run serves m until ctx ends, then shuts down gracefully.
func run(ctx context.Context, addr string, m *mux.Mux, stdout io.Writer) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &service.Server{Handler: m}
	fmt.Fprintf(stdout, "listening on %s\n", l.Addr())
	return srv.ServeUntil(ctx, l, 10*time.Second)
}
