package service

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/gorilla/websocket"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service/internal/wire"
)

// AcceptOptions configures Accept. The zero value accepts a same-origin
// handshake with no subprotocol and default connection options.
type AcceptOptions struct {
	// Subprotocol is the subprotocol to answer with, chosen by the caller
	// (protocol.Select does it from an offer). It must be one the client
	// offered; "" answers with none.
	Subprotocol string

	// CheckOrigin decides whether a browser's cross-origin handshake is
	// allowed. Defaults to same-origin (SameOrigin): a request whose
	// Origin host differs from its Host is refused with 403; a request
	// without Origin is allowed; a request whose context comes from
	// WithOriginChecked is allowed.
	CheckOrigin func(r *http.Request) bool

	// ResponseHeader holds extra headers for the 101 response, such as
	// Set-Cookie. Headers that middleware has set on the ResponseWriter
	// (w.Header()) are sent too.
	ResponseHeader http.Header

	// Options configures the connection; nil means the defaults.
	Options *Options
}

// Accept upgrades the HTTP request r to a WebSocket connection. On failure
// it has already answered the client with a complete HTTP response (a
// status and a one-line plain-text reason) and returns the error, a
// *HandshakeError for a refused handshake.
//
// The connection is the caller's to serve, on the calling goroutine or
// another, and to close: c.CloseWithError(err) closes it as a handler's
// return value would (see Handler). To have a Handler serve it instead,
// use an Endpoint, or the mux.
//
// When r is served by a Server, the connection joins its registry, so that
// Server.Shutdown closes it with 1001 and waits for it to close; a Server
// that is shutting down refuses new connections with 503.
func Accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	if opts == nil {
		opts = &noAcceptOptions
	}
	offer, err := CheckHandshake(r)
	if err != nil {
		return nil, refuse(w, err)
	}
	return accept(w, r, offer, opts)
}

// writeBufferPool lends gorilla's write buffer to the messages gorilla
// writes: Writer streams, and every message of a compressed or client
// connection (see frame.go), so that an idle connection holds none.
var writeBufferPool sync.Pool

// noAcceptOptions stands for nil options; accept only reads it.
var noAcceptOptions AcceptOptions

// accept upgrades a request whose handshake has been checked.
func accept(w http.ResponseWriter, r *http.Request, offer protocol.Offer, o *AcceptOptions) (*Conn, error) {
	if o.Subprotocol != "" && !offer.Contains(o.Subprotocol) {
		return nil, refuse(w, &HandshakeError{Status: http.StatusInternalServerError,
			Reason: fmt.Sprintf("server chose subprotocol %q, which the client did not offer", o.Subprotocol)})
	}
	if !originAllowed(r, o.CheckOrigin) {
		return nil, refuse(w, &HandshakeError{Status: http.StatusForbidden,
			Reason: fmt.Sprintf("origin %q is not allowed", r.Header.Get("Origin"))})
	}
	reg := registryFrom(r.Context())
	if reg != nil && !reg.admit() {
		return nil, refuse(w, &HandshakeError{Status: http.StatusServiceUnavailable,
			Reason: "server is shutting down", Header: http.Header{"Retry-After": {"5"}}})
	}
	opts := o.Options.withDefaults()
	c, err := openConn(w, r, o, opts)
	if err != nil {
		if reg != nil {
			reg.cancelAdmit()
		}
		return nil, fmt.Errorf("service: upgrade: %w", err)
	}
	c.up = keepRequest(r)
	c.lifetime = lifetimeFrom(r)
	c.lifetime.markUpgraded()
	if reg != nil {
		c.reg = reg
		reg.add(c)
	}
	c.start()
	return c, nil
}

// openConn answers the handshake and makes the connection: without
// compression wsmap answers it itself (upgradeConn), and gorilla has no
// part in the connection; with permessage-deflate, gorilla's upgrader
// does (upgradeDeflate).
func openConn(w http.ResponseWriter, r *http.Request, o *AcceptOptions, opts Options) (*Conn, error) {
	if opts.Compression && headerHasExtension(r.Header, "permessage-deflate") {
		ws, err := upgradeDeflate(w, r, o, opts)
		if err != nil {
			return nil, err
		}
		g, _ := ws.NetConn().(*wire.Guard)
		return newConn(r.Context(), ws, g, ws.Subprotocol(), opts, true, true), nil
	}
	var header http.Header
	switch set := w.Header(); {
	case len(o.ResponseHeader) == 0:
		header = set // upgradeConn leaves out the upgrade's own fields
	case len(set) == 0:
		header = o.ResponseHeader
	default:
		header = responseHeader(set, o.ResponseHeader, "")
	}
	g, err := upgradeConn(w, r, o.Subprotocol, header, opts.HandshakeTimeout)
	if err != nil {
		return nil, err
	}
	g.Configure(wireLimit(opts, false), false)
	return newConn(r.Context(), nil, g, o.Subprotocol, opts, true, false), nil
}

// upgradeDeflate upgrades with gorilla, which compresses the messages
// of a connection where permessage-deflate was negotiated.
func upgradeDeflate(w http.ResponseWriter, r *http.Request, o *AcceptOptions, opts Options) (*websocket.Conn, error) {
	up := websocket.Upgrader{
		HandshakeTimeout:  opts.HandshakeTimeout,
		ReadBufferSize:    wire.ReadBufferSize,
		CheckOrigin:       func(*http.Request) bool { return true }, // checked by accept
		EnableCompression: true,
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			http.Error(w, strings.TrimPrefix(reason.Error(), "websocket: "), status)
		},
		// gorilla's write buffer is borrowed for the length of a
		// message, which is compressed through it, not kept by the
		// connection.
		WriteBufferPool: &writeBufferPool,
	}
	gw := &guardWriter{ResponseWriter: w, limit: wireLimit(opts, true), compressed: true}
	var header http.Header
	if len(w.Header()) == 0 && len(o.ResponseHeader) == 0 && len(r.Header[headerProtocolKey]) <= 1 {
		// Nothing to copy: the upgrader answers with the subprotocol
		// itself, without a header map. (It finds the subprotocol in the
		// offer's first header line only.)
		if o.Subprotocol != "" {
			up.Subprotocols = []string{o.Subprotocol}
		}
	} else {
		header = responseHeader(w.Header(), o.ResponseHeader, o.Subprotocol)
	}
	return up.Upgrade(gw, r, header)
}

// responseHeader builds the headers of the 101 response: those set on
// the ResponseWriter, then extra, then the chosen subprotocol. The
// headers of the upgrade itself are left to the upgrader.
func responseHeader(set, extra http.Header, subprotocol string) http.Header {
	h := make(http.Header, len(set)+len(extra)+1)
	for k, v := range set {
		h[k] = slices.Clone(v)
	}
	for k, v := range extra {
		h[http.CanonicalHeaderKey(k)] = slices.Clone(v)
	}
	for _, k := range ownHeaders {
		delete(h, k)
	}
	if subprotocol != "" {
		h.Set(protocol.HeaderProtocol, subprotocol)
	}
	return h
}

// refuse answers a refused handshake and returns its error.
func refuse(w http.ResponseWriter, err error) error {
	var he *HandshakeError
	if errors.As(err, &he) {
		he.WriteResponse(w)
	} else {
		http.Error(w, err.Error(), http.StatusBadRequest)
	}
	return err
}

// headerHasExtension reports whether a Sec-WebSocket-Extensions header
// offers the named extension.
func headerHasExtension(h http.Header, name string) bool {
	for _, v := range h[headerExtensionsKey] {
		for v != "" {
			var n string
			n, _, v = cutExtension(v)
			if strings.EqualFold(n, name) {
				return true
			}
		}
	}
	return false
}
