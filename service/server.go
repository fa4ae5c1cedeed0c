package service

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/wsmap/wsmap/protocol"
)

// Server is an HTTP server that knows its WebSocket connections.
// net/http's Shutdown ignores hijacked connections; Server keeps a registry
// of every connection accepted through it (by Accept, Endpoint or the mux)
// and its Shutdown closes them with 1001 and waits for their handlers.
//
// Set the exported fields before serving; the methods are then safe to
// call from any goroutine.
type Server struct {
	// Addr is the TCP address ListenAndServe listens on. Defaults to
	// ":http".
	Addr string

	// Handler serves HTTP requests, typically a mux or an Endpoint.
	// Required: Serve and ListenAndServe fail without it (net/http would
	// serve its DefaultServeMux instead).
	Handler http.Handler

	// ReadHeaderTimeout bounds reading a request's headers, which cuts off
	// clients that trickle their handshake. Defaults to
	// DefaultHandshakeTimeout.
	ReadHeaderTimeout time.Duration

	// IdleTimeout bounds keep-alive waits between plain HTTP requests.
	// Defaults to 60s.
	IdleTimeout time.Duration

	// ErrorLog receives net/http's own errors (such as a failed TLS
	// handshake). Defaults to net/http's behaviour, the standard logger.
	ErrorLog *log.Logger

	once sync.Once
	hs   *http.Server
	reg  *registry
}

func (s *Server) init() {
	s.once.Do(func() {
		s.reg = &registry{conns: make(map[*Conn]struct{})}
		rht := s.ReadHeaderTimeout
		if rht <= 0 {
			rht = DefaultHandshakeTimeout
		}
		idle := s.IdleTimeout
		if idle <= 0 {
			idle = 60 * time.Second
		}
		s.hs = &http.Server{
			Addr:              s.Addr,
			Handler:           s.Handler,
			ReadHeaderTimeout: rht,
			IdleTimeout:       idle,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          s.ErrorLog,
			BaseContext: func(net.Listener) context.Context {
				return context.WithValue(context.Background(), registryKey{}, s.reg)
			},
		}
	})
}

// ListenAndServe listens on s.Addr and serves until Shutdown, after which
// it returns http.ErrServerClosed. Without a Handler it returns an error
// at once, without listening.
func (s *Server) ListenAndServe() error {
	if s.Handler == nil {
		return errNoHandler
	}
	s.init()
	return s.hs.ListenAndServe()
}

// Serve serves connections from l until Shutdown, after which it returns
// http.ErrServerClosed. Without a Handler it returns an error at once,
// leaving l open.
func (s *Server) Serve(l net.Listener) error {
	if s.Handler == nil {
		return errNoHandler
	}
	s.init()
	return s.hs.Serve(l)
}

// errNoHandler is the error of a Server asked to serve without a Handler,
// which net/http would replace with its DefaultServeMux.
var errNoHandler = errors.New("service: Server.Handler is nil: set it to the mux, Endpoint or other http.Handler to serve")

// ServeUntil serves connections from l until ctx ends, then shuts the
// server down, giving WebSocket handlers and HTTP requests up to grace to
// finish. It returns nil after a clean shutdown, the shutdown error if
// grace ran out, or Serve's error if serving failed first. It is the
// usual main-loop of a program that stops on a signal:
//
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
//	defer stop()
//	err := srv.ServeUntil(ctx, l, 10*time.Second)
func (s *Server) ServeUntil(ctx context.Context, l net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := s.Shutdown(sctx)
	<-errc // Serve returns http.ErrServerClosed once shutdown has begun
	return err
}

// Len returns the number of WebSocket connections open or being served.
func (s *Server) Len() int {
	s.init()
	return s.reg.len()
}

// Shutdown stops the server gracefully: it stops accepting (new handshakes
// on open HTTP connections get 503), closes every WebSocket connection
// with 1001 (going away), and waits for their handlers to return and for
// plain HTTP requests to finish. If ctx ends first, it drops the
// connections that are left and returns an error that wraps ctx.Err() and
// says how many handlers were still running.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	conns := s.reg.shutdown()
	httpDone := make(chan error, 1)
	go func() { httpDone <- s.hs.Shutdown(ctx) }()
	for _, c := range conns {
		go c.Close(protocol.CloseGoingAway, "server shutting down")
	}
	select {
	case <-s.reg.idle():
	case <-ctx.Done():
		left := s.reg.abortAll(ctx.Err())
		<-httpDone
		return fmt.Errorf("service: shutdown: %d WebSocket handlers still running: %w", left, ctx.Err())
	}
	return <-httpDone
}

// ListenAndServe serves h on addr with a Server with default timeouts. It
// mirrors Racket's ws-serve; use a Server directly to be able to shut it
// down.
func ListenAndServe(addr string, h http.Handler) error {
	s := &Server{Addr: addr, Handler: h}
	return s.ListenAndServe()
}

type registryKey struct{}

func registryFrom(ctx context.Context) *registry {
	r, _ := ctx.Value(registryKey{}).(*registry)
	return r
}

// registry tracks a server's connections from admission (before the
// upgrade) to release (connection closed and handler returned).
type registry struct {
	mu       sync.Mutex
	conns    map[*Conn]struct{}
	admitted int // admitted, not yet released
	closing  bool
	idleCh   chan struct{} // closed when closing and admitted == 0

	pings pingSchedules // the connections' keepalive pings
}

// admit reserves a place for a connection about to be upgraded.
func (r *registry) admit() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return false
	}
	r.admitted++
	return true
}

// cancelAdmit gives back the place of an upgrade that failed.
func (r *registry) cancelAdmit() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.releaseLocked()
}

func (r *registry) releaseLocked() {
	r.admitted--
	if r.closing && r.admitted == 0 && r.idleCh != nil {
		close(r.idleCh)
		r.idleCh = nil
	}
}

// add registers an upgraded connection, which must not have started yet.
// One that completes its upgrade after Shutdown began is closed at once.
func (r *registry) add(c *Conn) {
	r.mu.Lock()
	r.conns[c] = struct{}{}
	closing := r.closing
	r.mu.Unlock()
	if closing {
		go c.Close(protocol.CloseGoingAway, "server shutting down")
	}
}

// remove unregisters a released connection.
func (r *registry) remove(c *Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.conns, c)
	r.releaseLocked()
}

func (r *registry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.admitted
}

// shutdown refuses further admissions and returns the connections to close.
func (r *registry) shutdown() []*Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closing {
		r.closing = true
		r.idleCh = make(chan struct{})
		if r.admitted == 0 {
			close(r.idleCh)
		}
	}
	conns := make([]*Conn, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	return conns
}

// idle returns a channel closed once every admitted connection is released.
func (r *registry) idle() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.idleCh == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return r.idleCh
}

// abortAll drops every connection still registered and returns how many
// were left.
func (r *registry) abortAll(cause error) int {
	r.mu.Lock()
	left := r.admitted
	conns := make([]*Conn, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	for _, c := range conns {
		c.abort(cause)
	}
	return left
}
