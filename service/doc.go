// Package service is the WebSocket connection a wsmap handler receives:
// a blocking Send / Recv / Close API over gorilla/websocket, the same on
// the server (Accept, Endpoint) and the client (Dial).
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
// method takes a context. Each connection runs one goroutine of its own,
// the read loop, which ends when the connection closes; Close, Run and
// Server.Shutdown wait for it.
package service
