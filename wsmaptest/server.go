package wsmaptest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wsmap/wsmap/service"
)

// baseURL is every Server's URL.
const baseURL = "ws://wsmaptest"

// Server is an in-memory WebSocket server for tests: a service.Server
// serving an http.Handler (a mux, an Endpoint, a chi router, any handler)
// over connections that never touch a socket. Its Dial opens real
// WebSocket connections, with real frames and handshakes, to it; any
// other client (service.Redial, a client package of your own) reaches it
// with DialOptions.
//
// It works inside a testing/synctest bubble: everything it runs blocks
// only on channels, so keepalive pings and timeouts can be tested on the
// bubble's fake clock. It must then be made inside the bubble (see
// NewServer).
type Server struct {
	// URL is the server's base URL, ws://wsmaptest, with no trailing
	// slash: a client dials URL+"/path" with DialOptions.
	URL string

	t       TB
	srv     *service.Server
	l       *pipeListener
	done    chan struct{} // closed when Serve has returned
	bubbled bool          // made inside a synctest bubble

	mu      sync.Mutex
	n       int
	conns   map[*pipeConn]struct{}
	closed  bool
	crossed bool // a dial from another bubble was refused and reported
}

// NewServer starts a Server serving h. It is shut down when the test ends
// (see Close).
//
// A test that runs in a testing/synctest bubble must make its Server
// inside the bubble, in the function given to synctest.Test. A Server
// made outside refuses the dials made inside (and one made inside, the
// dials made outside): its goroutines, started outside, would run the
// connections' server ends on the channels and timers made inside by the
// dial, which the runtime does not allow (a fatal error, ending the whole
// test binary). The refusal is a *service.HandshakeError with status 403
// that wraps ErrOtherBubble and says what to do, so that service.Redial
// stops at once too; the test that made the Server is marked failed.
func NewServer(t TB, h http.Handler) *Server {
	t.Helper()
	s := &Server{URL: baseURL, t: t, srv: &service.Server{Handler: h}, l: newListener(), done: make(chan struct{}),
		bubbled: inBubble(), conns: map[*pipeConn]struct{}{}}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(s.l)
	}()
	t.Cleanup(s.Close)
	return s
}

// DialOptions returns options for service.Dial, and for service.Redial
// as RedialOptions.Dial, that connect to s in memory whatever the URL's
// host: dial s.URL+"/path". Set the other fields (Subprotocols, Header,
// Options) on the copy it returns. The connections made with them are
// not closed one by one when the test ends, as Dial's are: Close, at the
// test's end, closes them with 1001 as it does every connection, so a
// Redialer must be closed before, or it tries to come back.
func (s *Server) DialOptions() *service.DialOptions {
	return &service.DialOptions{NetDialContext: s.dialPipe}
}

// dialPipe makes an in-memory connection to s and returns its client end.
func (s *Server) dialPipe(ctx context.Context, _, _ string) (net.Conn, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, net.ErrClosed
	}
	if inBubble() != s.bubbled {
		report := !s.crossed
		s.crossed = true
		s.mu.Unlock()
		if report {
			s.t.Errorf("%s", otherBubbleReason)
		}
		return nil, otherBubble()
	}
	s.n++
	n := s.n
	s.mu.Unlock()
	c, srv := newPipe("client-"+strconv.Itoa(n), "wsmaptest")
	s.track(c)
	s.track(srv)
	if err := s.l.hand(ctx, srv); err != nil {
		_ = c.Close()
		_ = srv.Close()
		return nil, err
	}
	return c, nil
}

// Dial opens a connection to path (with its query, if any) on s, with
// opts as for service.Dial. A refused handshake gives a
// *service.HandshakeError carrying the status, headers and reason. The
// connection is closed when the test ends, if it is still open.
func (s *Server) Dial(ctx context.Context, path string, opts *service.DialOptions) (*service.Conn, error) {
	var o service.DialOptions
	if opts != nil {
		o = *opts
	}
	o.NetDialContext = s.dialPipe
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	c, _, err := service.Dial(ctx, s.URL+path, &o)
	if err != nil {
		return nil, err
	}
	s.t.Cleanup(func() { _ = c.Close(1000, "") })
	return c, nil
}

// track keeps p in s's set of open pipes until it closes.
func (s *Server) track(p *pipeConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[p] = struct{}{}
	p.onClose = func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.conns, p)
	}
}

// Cut makes every connection of s stop carrying bytes, both ways, as a
// network that drops every packet: writes succeed and are lost, reads
// wait. Keepalive then ends the connections, which is what Cut is for.
// Heal carries bytes again.
func (s *Server) Cut() { s.setCut(true) }

// Heal undoes Cut. What was written meanwhile is lost.
func (s *Server) Heal() { s.setCut(false) }

func (s *Server) setCut(cut bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range s.conns {
		p.setCut(cut)
	}
}

// Close shuts the server down as service.Server.Shutdown does: every
// connection is closed with 1001 and its handler waited for, 10 seconds
// at the most, after which the test fails. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.t.Errorf("wsmaptest: shutting the server down: %v", err)
	}
	<-s.done
	s.mu.Lock()
	left := make([]*pipeConn, 0, len(s.conns))
	for p := range s.conns {
		left = append(left, p)
	}
	s.mu.Unlock()
	for _, p := range left {
		_ = p.Close()
	}
}

// Connect serves h and returns the client's end of one connection to it,
// in memory: a handler under test gets a real *service.Conn, and the test
// talks to it with another. The client offers offer. The connection and
// its server end when the test does.
func Connect(t TB, h service.Handler, opts *Options) *service.Conn {
	t.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	s := NewServer(t, &service.Endpoint{Handler: h, Protocols: o.Protocols, Options: o.Server})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offer := o.Offer
	if offer == nil {
		offer = o.Protocols
	}
	c, err := s.Dial(ctx, "/", &service.DialOptions{Subprotocols: offer, Header: o.Header, Options: o.Client})
	if err != nil {
		t.Fatalf("wsmaptest: Connect: %v", err)
	}
	return c
}

// Options configures Connect and Pair. The zero value serves a handler
// with no subprotocol and default connection options on both ends.
type Options struct {
	// Protocols are the subprotocols the handler speaks; the client
	// offers them too, unless Offer is set.
	Protocols []string
	// Offer is what the client offers, if not Protocols.
	Offer []string
	// Header holds extra request headers for the handshake.
	Header http.Header
	// Server and Client configure each end's connection; nil means the
	// defaults.
	Server, Client *service.Options
}

// Pair returns the two ends of one in-memory connection, each a real
// *service.Conn: server as a handler would get it, client as Dial returns
// it. Both end when the test does.
func Pair(t TB, opts *Options) (server, client *service.Conn) {
	t.Helper()
	got := make(chan *service.Conn, 1)
	client = Connect(t, service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		got <- c
		<-ctx.Done()
		return nil
	}), opts)
	return <-got, client
}

// TB is what the kit needs of a test: *testing.T and *testing.B have it,
// and so can a program's own type.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Refusal returns the *service.HandshakeError in err, and whether there
// is one: the status, headers and reason of a refused Dial.
func Refusal(err error) (*service.HandshakeError, bool) {
	var he *service.HandshakeError
	ok := errors.As(err, &he)
	return he, ok
}
