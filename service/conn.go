package service

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsmap/wsmap/internal/xsync"
	"github.com/wsmap/wsmap/service/internal/wire"
)

// State is the life-cycle stage of a connection, after the ready states of
// the WebSocket API.
type State int32

const (
	// StateConnecting is the stage before the opening handshake completes.
	// Accept and Dial return connections that are already open, so it is
	// only seen in a zero Conn.
	StateConnecting State = iota
	// StateOpen means messages flow both ways.
	StateOpen
	// StateClosing means a close frame has been sent or received and the
	// closing handshake is under way.
	StateClosing
	// StateClosed means the TCP connection is gone.
	StateClosed
)

// String returns "connecting", "open", "closing" or "closed".
func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateOpen:
		return "open"
	case StateClosing:
		return "closing"
	case StateClosed:
		return "closed"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Conn is one WebSocket connection, on the server (from Accept) or the
// client (from Dial) side. The connection reads whatever the application
// does: a Recv with the connection's own context reads on the caller's
// goroutine, and when the application does not read for a moment
// (500ms), or receives with a context that may end first, a goroutine of
// the connection's own reads for it, holding up to Options.RecvQueue
// messages until they are asked for, so that pings are answered and the
// peer's close is seen even while the application only sends.
//
// All methods are safe to call from any number of goroutines. Sends are
// serialized, each message written whole; receives are serialized, each
// caller getting whole, distinct messages.
type Conn struct {
	ws    *websocket.Conn // gorilla's, on a compressed connection only
	opts  Options
	up    *keptRequest   // on the server, what Request builds from
	resp  *http.Response // on the client, with the request sent
	proto string

	ctx    context.Context
	cancel context.CancelCauseFunc

	// Reading. readMu is held by the goroutine in Recv or Reader; rd is
	// the reader role (see reader).
	readMu xsync.Mutex
	rd     reader

	writeMu xsync.Mutex // held by the goroutine writing a message

	// fw writes the frames of a connection without compression, and
	// holds the frame lock (see frame.go); nil on a compressed one,
	// whose frames gorilla writes.
	fw *wire.Writer
	// guard reads the socket, whose net.Conn it holds: the messages of
	// a connection without compression, the bytes gorilla reads on a
	// compressed one.
	guard *wire.Guard

	isServer bool
	// compressed: permessage-deflate was negotiated.
	compressed bool
	refs       atomic.Int32 // the connection itself, plus a running handler

	mu        sync.Mutex
	state     State
	done      chan struct{} // closed when the state is StateClosed; made by the first Done
	peerClose *CloseError   // the peer's close frame
	failed    *CloseError   // the close sent when failing the connection
	initiated *CloseError   // the close frame that began closing
	err       *CloseError   // the outcome, once closed
	keepalive *keepalive
	pings     *pings

	observers atomic.Pointer[[]Observer] // replaced whole under mu

	reg      *registry // the server's registry, if any
	lifetime *Lifetime // the handshake middleware following the connection
}

// newConn makes the connection over an upgraded socket, whose frame
// guard is g: without compression, the guard reads
// the messages and a frame writer writes the frames, and gorilla's ws,
// if any, is left unused; with compression, gorilla's ws reads through
// the guard and writes. start sets it going.
func newConn(ctx context.Context, ws *websocket.Conn, g *wire.Guard, proto string, opts Options, isServer bool, compressed bool) *Conn {
	c := &Conn{
		guard:      g,
		opts:       opts,
		proto:      proto,
		isServer:   isServer,
		compressed: compressed,
		state:      StateOpen,
	}
	c.ctx, c.cancel = context.WithCancelCause(valuesCtx{ctx, c})
	c.rd.init(c)
	c.refs.Store(1)
	// Deadlines the HTTP server may have set belong to the handshake.
	_ = g.Conn.SetDeadline(time.Time{})
	if !compressed {
		c.fw = wire.NewWriter(g.Conn, g)
		g.ReadMessages((*control)(c))
		return c
	}
	c.ws = ws
	ws.SetReadLimit(wireLimit(opts, compressed))
	ws.SetCloseHandler(c.onPeerClose)
	ws.SetPongHandler(c.onPong)
	return c
}

// start starts the keepalive and gives the application the first turn
// to read (see reader), once the connection is fully set up.
func (c *Conn) start() {
	c.mu.Lock()
	if c.opts.PingInterval > 0 {
		c.startKeepaliveLocked()
	}
	c.mu.Unlock()
	c.rd.start()
}

// Subprotocol returns the negotiated subprotocol, or "" if none.
func (c *Conn) Subprotocol() string { return c.proto }

// Request returns the HTTP request that opened the connection: the
// client's upgrade request on the server, the request sent on the client.
// It carries the headers, the URL, the route's Pattern and, on the
// server, the path values its pattern names (a net/http, chi or mux
// pattern), as the handshake saw them.
//
// On the server, each call builds a new request from what the
// connection keeps of the handshake's, with the connection's context
// (Context) as its context; a handler that reads it often keeps its own.
// On the client it is the request sent, which must not be modified.
func (c *Conn) Request() *http.Request {
	if c.up != nil {
		return c.up.request(c.ctx)
	}
	if c.resp != nil {
		return c.resp.Request
	}
	return nil
}

// Response returns the server's handshake response on a client
// connection, and nil on a server connection. Its body is empty.
func (c *Conn) Response() *http.Response { return c.resp }

// RemoteAddr returns the peer's network address.
func (c *Conn) RemoteAddr() net.Addr { return c.guard.RemoteAddr() }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.guard.LocalAddr() }

// Param returns the value of the named path parameter of the upgrade
// request, as set by the router (http.Request.PathValue) and named by
// its pattern (see Request); "" if there is none or on a client
// connection.
func (c *Conn) Param(name string) string {
	if c.up == nil {
		return ""
	}
	return c.up.param(name)
}

// State returns the connection's current life-cycle stage.
func (c *Conn) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Context returns the connection's context: it carries the values of the
// upgrade request's (or Dial's) context and is cancelled, with the
// *CloseError as its cause (context.Cause), as soon as the connection
// starts closing for any reason.
func (c *Conn) Context() context.Context { return c.ctx }

// Done returns a channel that is closed once the connection is closed.
func (c *Conn) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.err != nil { // already closed
			close(c.done)
		}
	}
	return c.done
}

// Err returns nil while the connection is not yet closed, and then the
// *CloseError that says how it ended.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		return nil
	}
	return c.err
}

// hold counts a running handler, so that a server's Shutdown waits for it.
// It reports false if the connection has already been released.
func (c *Conn) hold() bool {
	for {
		n := c.refs.Load()
		if n == 0 {
			return false
		}
		if c.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops one reference; the last one unregisters the connection.
func (c *Conn) release() {
	if c.refs.Add(-1) != 0 {
		return
	}
	if c.reg != nil {
		c.reg.remove(c)
	}
	c.lifetime.end()
}
