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
//	mapper [-addr 127.0.0.1:8080] [-routes] [-asyncapi]
//
// With -routes it prints the route table and exits; with -asyncapi, the
// table's AsyncAPI 3.0.0 document (see package asyncapi). Otherwise it prints
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

	"github.com/wsmap/wsmap/asyncapi"
	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/service"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on; port 0 picks a free port")
	routes := flag.Bool("routes", false, "print the route table and exit")
	document := flag.Bool("asyncapi", false, "print the AsyncAPI document of the route table and exit")
	flag.Parse()

	m := newMux()
	if *routes {
		if err := m.WriteRoutes(os.Stdout); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *document {
		if err := writeAsyncAPI(os.Stdout, m); err != nil {
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

// newMux builds the Racket test table, described for its AsyncAPI
// document.
func newMux() *mux.Mux {
	return mux.MustNew(
		mux.Route{
			Pattern: `/echo`,
			Doc: &mux.Doc{
				Title:    "Echo",
				Summary:  "Every message comes back, after a prefix that depends on the subprotocol.",
				Messages: echoMessages(""),
			},
			Protocols: []mux.Protocol{
				{Name: "echo.v2", Handler: reply(func(*service.Conn) string { return "v2:" }), Doc: echoDoc("v2:")},
				{Name: "echo.v1", Handler: reply(func(*service.Conn) string { return "v1:" }), Doc: echoDoc("v1:")},
			},
			NoProtocol: reply(func(*service.Conn) string { return "" }),
		},
		mux.Route{
			Pattern: `/chat/(?P<room>[a-z]+)`,
			Doc: &mux.Doc{
				Title:   "Chat",
				Summary: "Every message comes back after the path and a colon.",
				Messages: []mux.MessageDoc{{
					Name: "message", From: mux.FromClient, Summary: "Any message, text or binary.",
					Replies: []mux.MessageDoc{{Name: "reply", Summary: "The path, a colon and the message, of the message's type."}},
				}},
			},
			NoProtocol: reply(func(c *service.Conn) string { return c.Request().URL.Path + ":" }),
		},
	)
}

// echoDoc describes an echo subprotocol that replies with prefix in
// front of each message.
func echoDoc(prefix string) *mux.Doc {
	return &mux.Doc{Summary: fmt.Sprintf("Replies %q followed by the message.", prefix), Messages: echoMessages(prefix)}
}

// echoMessages describes the messages of an echo that replies with
// prefix in front of each message.
func echoMessages(prefix string) []mux.MessageDoc {
	return []mux.MessageDoc{{
		Name: "message", From: mux.FromClient, Summary: "Any message, text or binary.",
		Replies: []mux.MessageDoc{{Name: "reply", Summary: fmt.Sprintf("%q and the message, of the message's type.", prefix)}},
	}}
}

// writeAsyncAPI writes the AsyncAPI document of m.
func writeAsyncAPI(w io.Writer, m *mux.Mux) error {
	doc, err := asyncapi.New(&asyncapi.Options{
		Title:       "mapper",
		Version:     "1.0.0",
		Description: "The test table of Racket's rfc6455 package, served by wsmap's service mapper.",
	}, asyncapi.Mount{Mux: m})
	if err != nil {
		return err
	}
	_, err = doc.WriteTo(w)
	return err
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
