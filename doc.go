// Package wsmap is a framework for WebSocket services: declare which
// handler serves which connection the way HTTP routes are declared, then
// write each handler as plain sequential code. This package holds no
// code; it maps the packages that do.
//
//   - [github.com/wsmap/wsmap/mux]: the service mapper, an http.Handler
//     whose routes match the request path with a regular expression
//     (named groups become path values) and pick the handler by the
//     subprotocol negotiated with the client. It mounts in chi and
//     net/http.
//   - [github.com/wsmap/wsmap/service]: the connection a handler
//     receives, Conn, with a blocking Send / Recv / Close API that is
//     safe from many goroutines, honours context.Context, keeps the
//     connection alive and reports closes with their code and reason;
//     the same Conn on the client (Dial); a Server with graceful
//     shutdown.
//   - [github.com/wsmap/wsmap/protocol]: the vocabulary: subprotocol
//     offers and selection, close codes, message types.
//   - [github.com/wsmap/wsmap/middleware]: handshake layers (origin,
//     auth, limits, request IDs, refusal logs) and connection layers
//     (lifecycle logs, panic recovery, metrics, message rates).
//   - [github.com/wsmap/wsmap/room]: rooms with presence and a bounded
//     queue per member; [github.com/wsmap/wsmap/room/natstransport]
//     carries them across servers over NATS.
//
// A service in twenty lines:
//
//	package main
//
//	import (
//		"context"
//		"log"
//
//		"github.com/wsmap/wsmap/mux"
//		"github.com/wsmap/wsmap/service"
//	)
//
//	func echo(ctx context.Context, c *service.Conn) error {
//		for {
//			typ, data, err := c.Recv(ctx)
//			if err != nil {
//				return err // the peer closed, or the connection failed
//			}
//			if err := c.Send(ctx, typ, data); err != nil {
//				return err
//			}
//		}
//	}
//
//	func main() {
//		m := mux.MustNew(
//			mux.Route{Pattern: `/echo`, Protocols: []mux.Protocol{{Name: "echo.v1", Handler: service.HandlerFunc(echo)}}},
//			mux.Route{Pattern: `/chat/(?P<room>[a-z]+)`, NoProtocol: service.HandlerFunc(echo)}, // c.Param("room")
//		)
//		log.Fatal(service.ListenAndServe("127.0.0.1:8080", m))
//	}
//
// The handler's return value closes the connection: nil with 1000, a
// *service.CloseError with its code and reason, any other error (or a
// panic) with 1011. The guides in the repository's docs directory cover
// routing, the connection, middleware, rooms and scaling.
package wsmap
