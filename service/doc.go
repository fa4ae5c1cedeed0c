// Package service is the WebSocket connection a wsmap handler receives:
// a blocking Send / Recv / Close API, the same on the server (Accept,
// Endpoint) and the client (Dial). The package reads and writes the frames
// of a connection without compression itself, and answers its handshake on
// the server; gorilla/websocket makes a client's handshake, and the
// handshake and frames of a connection that negotiates permessage-deflate.
//
// # Handlers
//
// A Handler serves one connection as plain sequential code:
//
//	func echo(ctx context.Context, c *service.Conn) error {
//		for {
//			typ, data, err := c.Recv(ctx)
//			if err != nil {
//				return err
//			}
//			if err := c.Send(ctx, typ, data); err != nil {
//				return err
//			}
//		}
//	}
//
// Its return value closes the connection: nil with 1000, a *CloseError
// with its code and reason, any other error (or a panic) with 1011.
// Events adapts callbacks (OnOpen, OnMessage, OnClose, OnError) to a
// Handler.
//
// # Connections
//
// Recv returns whole messages; text is checked to be valid UTF-8 (else the
// connection closes with 1007), and messages over Options.ReadLimit close
// it with 1009. Reader and Writer stream large payloads. When the
// connection closes, Recv and Send return a *CloseError; CloseStatus reads
// its code and reason. Close performs the closing handshake and is
// idempotent; a peer's close is answered with the same code.
//
// Every connection pings its peer every Options.PingInterval and ends,
// reported as 1006, when no pong comes within Options.PongTimeout. Writes
// are bounded by Options.WriteTimeout: a peer that stops reading ends its
// connection instead of blocking the application.
//
// # Reading rules
//
// A connection reads whatever its application does. Control frames are
// always read and handled: pings answered, the peer's close echoed and the
// handler's ctx cancelled, keepalive kept, whether the handler receives
// fast, slowly or never. Data messages nobody has asked for yet wait in a
// queue of Options.RecvQueue messages and ReadLimit bytes; while it is
// full the connection stops reading, so that TCP holds the peer back, and
// an application that leaves it full and takes nothing for
// PingInterval+PongTimeout has its connection closed with 1008 and a
// reason saying so. A handler that never reads says so with CloseRead: a
// data message then closes the connection with 1008 at once.
//
// When wsmap fails a connection itself (1002 for a protocol violation,
// 1007, 1009, the 1008 above, or a refusal of the frame guard, which
// checks every frame header), it writes its close frame and closes the
// TCP connection without reading further, as RFC 6455 section 7.1.7 asks.
// The closing handshake, bounded by Options.CloseTimeout, is for closes
// that the application or the peer starts.
//
// A client (Dial) is guarded as a server is: every frame header is checked
// by the frame guard, masked server frames are refused, and so are
// subprotocols and extensions the client did not offer.
//
// # Entry points
//
// One for each thing to do:
//
//   - one service at one URL: Endpoint, an http.Handler (the mux, in
//     package mux, routes many);
//   - accepting inside an http.Handler of your own: Accept, which returns
//     the *Conn to serve and close;
//   - a client: Dial;
//   - a server with graceful shutdown: Server (ListenAndServe is its
//     shorthand, ServeUntil its main loop).
//
// # Extending
//
// Routers and middleware are built from these; applications rarely need
// them. Upgrade upgrades a request and runs a Handler on its own
// goroutine (the mux and Endpoint are built on it), after CheckHandshake
// has validated the request and Negotiate chosen the subprotocol.
// Handshake middleware whose work lasts as long as the connection uses
// Track; one that vets the Origin header itself marks the request with
// WithOriginChecked. Connection middleware watches messages with
// Conn.Observe, and calls the next handler with Invoke, the one place a
// handler's panic is recovered, as a *PanicError.
//
// # Serving and shutdown
//
// Server wraps net/http's server with a registry of live connections:
// Shutdown closes each with 1001 (going away), waits for the handlers, and
// drops what is left when its context ends.
//
// # Concurrency
//
// All methods of Conn are safe to call from any number of goroutines:
// sends are serialized and each message is written whole; receives are
// serialized and each message goes to exactly one caller. Every blocking
// method takes a context.
//
// These are the goroutines a connection can run, and what ends each:
//
//   - the handler's, started by an Endpoint or the mux (Upgrade), which
//     runs the upgrade on it, then the handler; it ends when the upgrade
//     fails or when the handler returns, which Server.Shutdown waits for
//     (a connection from Accept is served on the caller's);
//   - the read loop, started when the application does not read directly
//     (see the reading rules): it ends when reading ends, with the
//     connection, or when it hands reading back to a direct Recv;
//   - a tail writer, started when a room writes to an idle connection
//     (through the write that never waits, which the connection's
//     context carries for package room) and the socket takes only part
//     of a frame: it ends once the rest is written, or the write timeout
//     has passed and ended the connection;
//   - timer callbacks (the read loop's start, the unread-messages limit,
//     keepalive pings), each short-lived; a Server's connections that
//     share a ping interval share one timer, whose callback starts a
//     goroutine per connection due to ping; a ping's write is bounded by
//     the write timeout;
//   - a watcher of a Send's own context, when it can be cancelled
//     (context.AfterFunc): it runs only if that context ends during the
//     write, and ends the connection;
//   - a Close per connection run by Server.Shutdown, which ends with the
//     closing handshake.
//
// A Redialer runs one goroutine of its own, which dials, runs the hooks
// (BeforeDial, OnConnect, OnState) and waits between attempts: it ends
// when the Redialer stops (Close, its ctx, a stopping close or refusal).
// Close and the end of its ctx cancel the one context that goroutine
// dials and waits under; if that happens during an opening handshake, a
// context.AfterFunc runs a goroutine that moves the connection's deadline
// to the past, ending the handshake, and ends at once.
//
// Package room adds a writer goroutine per member, from Join until the
// member leaves.
//
// Locks are taken in this order, never the reverse: the receive lock
// (held by the goroutine in Recv or Reader) or the send lock (held by a
// goroutine writing a message); a stream's own lock (held while its
// payload is read, during which the connection's ping, pong and close
// handlers run, called by the frame guard, or by gorilla on a compressed
// connection); the frame lock (held while one frame is written); the
// reader role's mutex; the connection's mutex; the mutex of its server's
// ping schedule.
package service
