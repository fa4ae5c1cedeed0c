// Command wsmapserver is wsmap's side of the performance comparisons
// (internal/perf/compare): an echo handler written with service.Conn's
// Recv (or, with -into, RecvInto and a reused buffer) and Send, behind a mux of -routes routes. The echo route,
// /echo, is registered last, with the subprotocol "echo" and a handler for
// clients that offer none; the others are /svcN/(?P<id>[0-9]+). The
// route /room serves the broadcast load (wsload -mode broadcast): each
// connection joins one room.Room with the default options, is sent
// "joined", and every message it sends is broadcast to all members.
// The route /rpc, with the subprotocol "jsonrpc" (or none), serves
// JSON-RPC 2.0 calls (wsload -mode rpc): a message.Peer with
// jsonrpc.Codec and the default options, over a message.Router of two
// methods made with message.Func, "add" (two integers, their sum) and
// "echo" (the parameters back, as they came).
//
// With -compress, connections negotiate permessage-deflate when the
// client offers it. With -otel RATIO, middleware/otelwsmap's handshake
// and connection middleware trace and measure every route, with a real
// SDK sampling at RATIO and exporters that discard (see otel.go). It prints "listening on HOST:PORT" once it accepts
// connections and shuts down gracefully on SIGINT or SIGTERM: every
// connection is closed with 1001.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wsmap/wsmap/internal/perf/profile"
	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/message/jsonrpc"
	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/service"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	routes := flag.Int("routes", 1000, "routes in the mux, the echo route last")
	into := flag.Bool("into", false, "receive with RecvInto into a reused buffer instead of Recv")
	compress := flag.Bool("compress", false, "negotiate permessage-deflate with clients that offer it")
	otelRatio := flag.String("otel", "off", "off, or trace and measure with OpenTelemetry, sampling spans at this ratio (1.0, 0.01)")
	prof := profile.Register(flag.CommandLine)
	flag.Parse()
	defer prof.Start()()
	var dropped atomic.Int64 // room members dropped as too slow
	m, err := mux.New(table(*routes, *into, &dropped)...)
	if err != nil {
		log.Fatal(err)
	}
	if *compress {
		m.Options = &service.Options{Compression: true}
	}
	if *otelRatio != "off" {
		shutdown, err := instrument(m, *otelRatio)
		if err != nil {
			log.Fatal(err)
		}
		defer func() { _ = shutdown(context.Background()) }()
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Println("listening on", l.Addr())
	s := &service.Server{Handler: m}
	if err := s.ServeUntil(ctx, l, 5*time.Second); err != nil {
		log.Fatal(err)
	}
	if n := dropped.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "wsmapserver: %d room members dropped as too slow\n", n)
	}
}

// table returns n+2 routes: n-1 of the form /svcN/(?P<id>[0-9]+), then
// /room, /rpc, and the echo route last.
func table(n int, into bool, dropped *atomic.Int64) []mux.Route {
	echo := service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		var buf []byte
		for {
			typ, data, err := c.RecvInto(ctx, buf)
			if err != nil {
				return err
			}
			if err := c.Send(ctx, typ, data); err != nil {
				return err
			}
			if into {
				buf = data
			}
		}
	})
	var rs []mux.Route
	for i := range n - 1 {
		rs = append(rs, mux.Route{Pattern: fmt.Sprintf(`/svc%d/(?P<id>[0-9]+)`, i), NoProtocol: echo})
	}
	members := roomHandler(dropped) // one room, whichever protocol a member speaks
	rs = append(rs, mux.Route{Pattern: `/room`, Protocols: []mux.Protocol{{Name: "echo", Handler: members}}, NoProtocol: members})
	rpc := rpcHandler()
	rs = append(rs, mux.Route{Pattern: `/rpc`, Protocols: []mux.Protocol{{Name: "jsonrpc", Handler: rpc}}, NoProtocol: rpc})
	return append(rs, mux.Route{Pattern: `/echo`, Protocols: []mux.Protocol{{Name: "echo", Handler: echo}}, NoProtocol: echo})
}

// roomHandler serves the members of one room: each is sent "joined",
// then every message it sends is broadcast to all. Members dropped as too
// slow are counted in dropped.
func roomHandler(dropped *atomic.Int64) service.Handler {
	r, err := room.New("load", nil) // the defaults, as a new user writes it
	if err != nil {
		log.Fatal(err)
	}
	return service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		m, err := r.Join(c, nil)
		if err != nil {
			return err
		}
		defer m.Leave()
		if err := c.Send(ctx, protocol.Text, []byte("joined")); err != nil {
			return err
		}
		for {
			typ, data, err := c.Recv(ctx)
			if err != nil {
				if errors.Is(m.Err(), room.ErrTooSlow) {
					dropped.Add(1)
				}
				return err
			}
			if err := r.Broadcast(typ, data); err != nil {
				return err
			}
		}
	})
}

// rpcHandler serves JSON-RPC 2.0 calls of "add" and "echo" on each
// connection, as the message package's documentation shows.
func rpcHandler() service.Handler {
	r := &message.Router{}
	r.Handle("add", message.Func(func(_ context.Context, p [2]int64) (int64, error) {
		return p[0] + p[1], nil
	}))
	r.Handle("echo", message.Func(func(_ context.Context, p json.RawMessage) (json.RawMessage, error) {
		return p, nil
	}))
	return service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		return message.New(c, jsonrpc.Codec{}, r, nil).Serve(ctx)
	})
}
