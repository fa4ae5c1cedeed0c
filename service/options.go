package service

import "time"

// Default values of the [Options] fields.
const (
	DefaultReadLimit        = 1 << 20
	DefaultWriteTimeout     = 10 * time.Second
	DefaultCloseTimeout     = 5 * time.Second
	DefaultPingInterval     = 30 * time.Second
	DefaultPongTimeout      = 10 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultRecvQueue        = 16
)

// Options configures a connection. The zero value is ready to use: every
// zero field takes its safe default. Options are copied when a connection
// is made, so changing them later affects only later connections.
type Options struct {
	// ReadLimit is the largest message, in bytes, the connection accepts;
	// a larger one closes the connection with 1009 (message too big). With
	// compression on, the limit applies to the decompressed message.
	// Defaults to 1 MiB; a negative value means no limit.
	ReadLimit int64

	// WriteTimeout bounds every write. A write that cannot finish in time
	// ends the connection, so that a peer that stops reading never blocks
	// the goroutines sending to it. Defaults to 10s.
	WriteTimeout time.Duration

	// CloseTimeout bounds the closing handshake: how long Close waits for
	// the peer's close frame before dropping the TCP connection. Defaults
	// to 5s.
	CloseTimeout time.Duration

	// PingInterval is the time between keepalive pings. Defaults to 30s; a
	// negative value disables keepalive.
	PingInterval time.Duration

	// PongTimeout is how long the connection waits for the pong that
	// answers a keepalive ping before it ends the connection (reported
	// locally as 1006). Defaults to 10s.
	PongTimeout time.Duration

	// HandshakeTimeout bounds the opening handshake: writing the upgrade
	// response on the server, the whole exchange when dialing. Defaults to
	// 10s.
	HandshakeTimeout time.Duration

	// RecvQueue is how many received messages the connection holds for
	// the application before it stops reading from the socket. The
	// connection reads whatever the application does, so that pings are
	// answered and the peer's close is seen; messages nobody has asked for
	// yet wait in a queue, which also stops taking more once it holds
	// ReadLimit bytes (1 MiB when there is no limit). While the queue is
	// full the peer is held back by TCP; an application that leaves it
	// full and takes nothing for PingInterval+PongTimeout has its
	// connection closed with 1008 (policy violation). Defaults to 16.
	RecvQueue int

	// Compression enables permessage-deflate (RFC 7692, without context
	// takeover) when the peer supports it. Defaults to off.
	Compression bool

	// OnError is called with the errors that end a connection and that
	// nobody else sees: a handler's error other than a close or a
	// *MessageError (the peer only sees 1011), and a handler's panic, as
	// a *PanicError with its stack. It may be called from any goroutine.
	//
	// When OnError is nil, such an error is logged once through
	// slog.Default(), at level ERROR, with the route, the subprotocol
	// and the peer's address (a panic with its value and stack), as
	// net/http logs a handler's panic, so that no failure goes unseen:
	//
	//	ERROR websocket handler failed route=/echo protocol=echo.v2 remote=127.0.0.1:50412 error="parse: unexpected end of input"
	//	ERROR websocket handler panic route=/echo protocol=echo.v2 remote=127.0.0.1:50412 panic="runtime error: index out of range [3] with length 3" stack="goroutine 41 [running]:\n…"
	//
	// An error that middleware.Log or Events.OnError has reported, or
	// that middleware.Recover turned into a close, is not logged again.
	// To hear nothing, set OnError to a function that does nothing.
	OnError func(c *Conn, err error)
}

// withDefaults returns a copy of o with every zero field set to its
// default. A nil o gives the defaults.
func (o *Options) withDefaults() Options {
	var d Options
	if o != nil {
		d = *o
	}
	if d.ReadLimit == 0 {
		d.ReadLimit = DefaultReadLimit
	}
	if d.WriteTimeout <= 0 {
		d.WriteTimeout = DefaultWriteTimeout
	}
	if d.CloseTimeout <= 0 {
		d.CloseTimeout = DefaultCloseTimeout
	}
	if d.PingInterval == 0 {
		d.PingInterval = DefaultPingInterval
	}
	if d.PongTimeout <= 0 {
		d.PongTimeout = DefaultPongTimeout
	}
	if d.RecvQueue <= 0 {
		d.RecvQueue = DefaultRecvQueue
	}
	if d.HandshakeTimeout <= 0 {
		d.HandshakeTimeout = DefaultHandshakeTimeout
	}
	return d
}
