// Command graphql serves one GraphQL schema over WebSocket, with both
// GraphQL-over-WebSocket protocols, graphql-transport-ws and the legacy
// graphql-ws, and over HTTP, all on one path, executed by
// graph-gophers/graphql-go:
//
//	type Query        { hello(name: String): String! }
//	type Mutation     { post(text: String!): Message! }
//	type Subscription { countdown(from: Int!): Int!  messages: Message! }
//	type Message      { id: ID! text: String! }
//
// hello answers "Hello, NAME!" ("Hello, world!" without a name). post
// makes a Message with the next ID (1, 2, …) and sends it to every
// messages subscription, whichever connection or request posted it.
// countdown sends from, from-1, … 0, 50ms apart, then completes.
// messages sends every Message posted after it started, in the order
// they were posted, until it is stopped; a subscriber more than 64
// messages behind (its connection does not take them) is dropped, and
// its operation ends with an error saying so.
//
// Usage:
//
//	graphql [-addr 127.0.0.1:8080] [-init-timeout 3s] [-keepalive 10s] [-asyncapi]
//
// With -asyncapi it prints the AsyncAPI 3.0.0 document of its WebSocket
// route, both protocols' messages described (see package asyncapi), and
// exits. Otherwise it prints "listening on HOST:PORT" once it accepts connections and
// serves until interrupted (SIGINT or SIGTERM), then closes every
// connection with 1001 (going away) and exits.
//
// # Flags
//
//	-addr          address to listen on; port 0 picks a free port
//	-init-timeout  how long a WebSocket client has, once connected, to send
//	               connection_init (3s, as graphql-ws's own server)
//	-keepalive     the interval between the legacy protocol's ka messages (10s)
//
// # Routes
//
//	/graphql   WebSocket, subprotocols graphql-transport-ws and graphql-ws
//	           (the first of the client's offer that is served; an offer of
//	           neither, or none, is refused with 400)
//	/graphql   POST: GraphQL over HTTP
//
// # graphql-transport-ws
//
// The protocol of the graphql-ws library, as its PROTOCOL.md describes
// it. Every message is a JSON text object with a "type", an "id" for an
// operation's messages, and a "payload":
//
//	client                                server
//	connection_init {payload?}      →
//	                                ←     connection_ack
//	subscribe {id, payload: {query, variables?, operationName?, extensions?}}
//	                                ←     next {id, payload: ExecutionResult} …
//	                                ←     complete {id}    (the stream, or the single result, ended)
//	                                ←     error {id, payload: [GraphQLError]}   (instead: no complete follows)
//	complete {id}                   →     (stops the operation: nothing more is sent for it)
//	ping {payload?}                 →
//	                                ←     pong {payload?}  (the ping's payload)
//	pong                            →     (a heartbeat: ignored)
//
// A query or mutation gets one next, then complete; a subscription a next
// per event, then complete when its stream ends. A request that fails
// before execution (a syntax error, a validation error, variables of the
// wrong type, an operationName naming no operation) gets error, with the
// GraphQL errors, and no complete. An ID is free again once its operation
// has ended (complete or error sent, or the client's complete handled);
// a complete for an ID that is not active is ignored. The server closes
// the connection:
//
//	4400 <reason>                            a message that is not JSON, of a type the protocol
//	                                         does not define or that only a server sends, or
//	                                         whose fields are not of their types
//	4401 Unauthorized                        subscribe before connection_ack
//	4408 Connection initialisation timeout   no connection_init within -init-timeout
//	4409 Subscriber for <id> already exists  subscribe with the ID of an active operation
//	4429 Too many initialisation requests    a second connection_init
//	1008                                     more than 64 messages waiting to be handled
//
// # graphql-ws (legacy)
//
// The protocol of subscriptions-transport-ws, with the same message
// shape:
//
//	client                                server
//	connection_init {payload?}      →
//	                                ←     connection_ack, then ka, and ka every -keepalive
//	start {id, payload: {query, variables?, operationName?}}
//	                                ←     data {id, payload: ExecutionResult} …
//	                                ←     complete {id}
//	                                ←     error {id, payload: {message, …}}   (instead of data: no complete follows)
//	stop {id}                       →
//	                                ←     complete {id}   (if it was active)
//	connection_terminate            →     (closes the connection with 1000)
//
// Its errors are answers, not closes: a message that is not JSON is
// answered with connection_error {payload: {message}}, one of a type a
// client does not send with error "Invalid message type!" at its id, a
// start or stop of the wrong shape, a start before connection_init, and a
// request that fails before execution with error (the payload is one
// error object, as the protocol has it: the first GraphQL error). A
// start with the ID of an active operation replaces it. A second
// connection_init is acknowledged again. The protocol has no close codes
// of its own: a connection without connection_init within -init-timeout
// is closed as graphql-transport-ws closes it, with 4408.
//
// # GraphQL over HTTP
//
// A POST with a JSON body {"query", "variables", "operationName"}
// (Content-Type application/json, up to 1 MiB) is answered with the
// result, {"data", "errors"}, as application/json with status 200, also
// when the request does not validate. A body that is not such an object,
// or has no query, gets 400 with {"errors"}; another content type 415;
// another method 405. A subscription is answered with an error: it is
// served over WebSocket only.
//
// # Message level
//
// Each protocol is a message.Peer over its own codec (message type as
// the Method, id as the ID, payload as the Payload) and a message.Router
// that dispatches the client's messages by type, one at a time, in
// order. graphql-transport-ws's ping is a call, answered by its pong;
// every other message is a notification, and the server's messages go
// out with Peer.Send. Each connection's protocol state (waiting for
// connection_init, acknowledged, closing) is a table of transitions
// (transport.go, legacy.go).
//
// # Concurrency
//
// Per connection: the connection's handler reads, through the Peer, which
// handles the client's messages one at a time on a goroutine it starts
// while messages wait and that ends when none does; Serve waits for it.
// Each operation runs on a goroutine of its own, which ends when the
// operation does or the connection ends, before the handler returns; a
// subscription's resolver adds graphql-go's goroutines and, for
// countdown, one of its own, each ending with the operation's context. A
// legacy connection has a goroutine sending ka from connection_ack until
// the connection ends. The init timeout's timer runs its function once,
// on a goroutine that the handler waits for if it has started, and so
// does the handler for the goroutine that closes a connection with too
// many messages waiting.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/service"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on; port 0 picks a free port")
	initTimeout := flag.Duration("init-timeout", 3*time.Second, "how long a WebSocket client has to send connection_init")
	keepAlive := flag.Duration("keepalive", 10*time.Second, "interval between the ka messages of the legacy graphql-ws protocol")
	document := flag.Bool("asyncapi", false, "print the AsyncAPI document of the WebSocket route and exit")
	flag.Parse()
	if *initTimeout <= 0 || *keepAlive <= 0 {
		log.Fatal("-init-timeout and -keepalive must be positive")
	}
	if *document {
		s, err := newServer(*initTimeout, *keepAlive)
		if err == nil {
			err = writeAsyncAPI(os.Stdout, s.newMux())
		}
		if err != nil {
			log.Fatal(err)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *initTimeout, *keepAlive, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// server holds what the handlers of every transport share.
type server struct {
	exec        *executor
	feed        *feed // the posted messages
	initTimeout time.Duration
	keepAlive   time.Duration
}

// newServer makes the schema and its resolver.
func newServer(initTimeout, keepAlive time.Duration) (*server, error) {
	f := &feed{}
	schema, err := newSchema(&resolver{feed: f})
	if err != nil {
		return nil, err
	}
	return &server{exec: &executor{schema: schema}, feed: f, initTimeout: initTimeout, keepAlive: keepAlive}, nil
}

// newMux builds the route table: one path, two subprotocols and plain
// HTTP.
func (s *server) newMux() *mux.Mux {
	return mux.MustNew(mux.Route{
		Pattern: `/graphql`,
		Protocols: []mux.Protocol{
			{Name: "graphql-transport-ws", Handler: s.serveTransport(transportRouter()), Doc: transportDoc},
			{Name: "graphql-ws", Handler: s.serveLegacy(legacyRouter()), Doc: legacyDoc},
		},
		HTTP: http.HandlerFunc(s.serveHTTP),
		Doc:  &mux.Doc{Title: "GraphQL", Summary: "GraphQL over WebSocket, either protocol; POST for GraphQL over HTTP."},
	})
}

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, addr string, initTimeout, keepAlive time.Duration, stdout io.Writer) error {
	s, err := newServer(initTimeout, keepAlive)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &service.Server{Handler: s.newMux()}
	fmt.Fprintf(stdout, "listening on %s\n", l.Addr())
	return srv.ServeUntil(ctx, l, 10*time.Second)
}
