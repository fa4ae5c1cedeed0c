package service

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service/internal/wire"
)

// ErrBadHandshake is wrapped by Dial's error when the server answered with
// something other than a valid 101 Switching Protocols response; the error
// is then a *HandshakeError with the server's status, headers and reason.
var ErrBadHandshake = errors.New("service: bad handshake")

// ErrProtocolNotOffered is wrapped by Dial's error when the server chose a
// subprotocol the client did not offer.
var ErrProtocolNotOffered = errors.New("service: server chose a subprotocol that was not offered")

// DialOptions configures Dial. The zero value dials with no subprotocol
// and default connection options.
type DialOptions struct {
	// Subprotocols are offered to the server in order of preference.
	Subprotocols []string

	// Header holds extra request headers, such as Origin, Cookie or
	// Authorization.
	Header http.Header

	// NetDialContext dials the TCP connection. Defaults to a net.Dialer.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// TLSConfig configures TLS for wss:// URLs.
	TLSConfig *tls.Config

	// Options configures the connection; nil means the defaults.
	// HandshakeTimeout bounds the whole opening handshake, in addition to
	// Dial's ctx.
	Options *Options
}

// checkDial checks what Dial is asked to do before it dials: the
// subprotocols offered, and the URL, which it returns parsed and as
// shown in errors.
func checkDial(rawURL string, o *DialOptions) (*url.URL, string, error) {
	for _, p := range o.Subprotocols {
		if !protocol.ValidToken(p) {
			return nil, "", fmt.Errorf("service: Dial: subprotocol %q is not a valid token", p)
		}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL, secrets and all
		}
		return nil, "", fmt.Errorf("service: Dial: malformed URL: %w", err)
	}
	shown := redactedURL(u)
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, "", fmt.Errorf("service: Dial %s: scheme must be ws or wss", shown)
	}
	return u, shown, nil
}

// Dial opens a client connection to a ws:// or wss:// URL and returns the
// same *Conn a server handler gets. The returned *http.Response is the
// server's handshake response; on a refused handshake it is returned with
// the error, with up to 1 KiB of its body, so the caller can read the
// status and the server's reason.
//
// ctx bounds the handshake only: its end interrupts the handshake at
// any point, the server's response included, and Dial returns its cause.
// The connection lives until closed; its Context carries ctx's values.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	var o DialOptions
	if opts != nil {
		o = *opts
	}
	u, shown, err := checkDial(rawURL, &o)
	if err != nil {
		return nil, nil, err
	}
	copts := o.Options.withDefaults()
	gd := guardedDialer{dial: o.NetDialContext, tls: o.TLSConfig, host: u.Hostname(), ctx: ctx}
	d := websocket.Dialer{
		NetDialContext:    gd.dialTCP,
		NetDialTLSContext: gd.dialTLS,
		HandshakeTimeout:  copts.HandshakeTimeout,
		Subprotocols:      o.Subprotocols,
		EnableCompression: copts.Compression,
		WriteBufferPool:   &writeBufferPool,
	}
	ws, resp, err := d.DialContext(ctx, rawURL, o.Header)
	if gd.stop != nil && !gd.stop() {
		// ctx ended during the handshake, which its end interrupted, or
		// as it succeeded: either way the connection is not to be used.
		if err == nil {
			_ = ws.NetConn().Close()
		}
		return nil, resp, fmt.Errorf("service: Dial %s: %w", shown, context.Cause(ctx))
	}
	if err != nil {
		if errors.Is(err, websocket.ErrBadHandshake) && resp != nil {
			return nil, resp, refusal(resp, shown)
		}
		if resp != nil && resp.StatusCode == http.StatusSwitchingProtocols {
			// gorilla refuses some extensions itself (permessage-deflate
			// without its no_context_takeover parameters), offered or
			// not: an extension that was not offered is told as such.
			if _, xerr := acceptedExtensions(resp.Header, copts.Compression); xerr != nil {
				return nil, resp, xerr
			}
		}
		return nil, resp, fmt.Errorf("service: Dial %s: %w", shown, err)
	}
	if p := ws.Subprotocol(); p != "" && !protocol.Offer(o.Subprotocols).Contains(p) {
		_ = ws.NetConn().Close()
		return nil, resp, fmt.Errorf("%w: %q (offered %q)", ErrProtocolNotOffered, p, o.Subprotocols)
	}
	compressed, err := acceptedExtensions(resp.Header, copts.Compression)
	if err != nil {
		_ = ws.NetConn().Close()
		return nil, resp, err
	}
	if gd.guard != nil {
		gd.guard.Configure(wireLimit(copts, compressed), compressed)
	}
	c := newConn(ctx, ws, gd.guard, ws.Subprotocol(), copts, false, compressed)
	c.resp = resp
	c.start()
	return c, resp, nil
}

// ErrExtensionNotOffered is wrapped by Dial's error when the server
// answered with an extension the client did not offer.
var ErrExtensionNotOffered = errors.New("service: server chose an extension that was not offered")

// acceptedExtensions checks the extensions of the server's answer against
// the offer, which is permessage-deflate if compress is set and nothing
// otherwise, and reports whether compression was negotiated.
func acceptedExtensions(h http.Header, compress bool) (bool, error) {
	compressed := false
	for _, v := range h[headerExtensionsKey] {
		for v != "" {
			var name, ext string
			name, ext, v = cutExtension(v)
			switch {
			case name == "":
			case strings.EqualFold(name, "permessage-deflate") && compress && !compressed:
				compressed = true
			default:
				return false, fmt.Errorf("%w: %q", ErrExtensionNotOffered, ext)
			}
		}
	}
	return compressed, nil
}

// guardedDialer dials the TCP (and TLS) connection of a client and puts a
// frame guard (wire.Guard) over it, which refuses what a server may not
// send before gorilla reads it.
type guardedDialer struct {
	dial  func(ctx context.Context, network, addr string) (net.Conn, error)
	tls   *tls.Config
	host  string
	guard *wire.Guard // the connection's guard, once dialed
	// ctx is Dial's. Its end interrupts the handshake: gorilla reads the
	// server's response watching only the deadline, which stop's
	// callback moves to the past.
	ctx  context.Context
	stop func() bool
}

func (d *guardedDialer) dialRaw(ctx context.Context, network, addr string) (net.Conn, error) {
	var nc net.Conn
	var err error
	if d.dial != nil {
		nc, err = d.dial(ctx, network, addr)
	} else {
		var nd net.Dialer
		nc, err = nd.DialContext(ctx, network, addr)
	}
	if err == nil {
		d.stop = context.AfterFunc(d.ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	}
	return nc, err
}

func (d *guardedDialer) dialTCP(ctx context.Context, network, addr string) (net.Conn, error) {
	nc, err := d.dialRaw(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.guard = wire.NewGuard(nc, nil, wire.FromServer)
	return d.guard, nil
}

func (d *guardedDialer) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	nc, err := d.dialRaw(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{}
	if d.tls != nil {
		cfg = d.tls.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = d.host
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = nc.Close()
		return nil, err
	}
	d.guard = wire.NewGuard(tc, nil, wire.FromServer)
	return d.guard, nil
}

// maxRefusalReason bounds the reason a refused Dial reports from the
// response's body; maxRefusalBody bounds what is read of the body, and
// of its decompressed text, to find it.
const (
	maxRefusalReason = 512
	maxRefusalBody   = 4096
)

// refusal describes a response that refused the handshake: its status,
// headers and the reason in its body (decompressed when the response is
// gzipped), at most maxRefusalReason bytes of text.
func refusal(resp *http.Response, shown string) *HandshakeError {
	e := &HandshakeError{Status: resp.StatusCode, Header: resp.Header, URL: shown, Err: ErrBadHandshake}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		e.Reason = "the 101 response is not a WebSocket handshake (its Upgrade, Connection or Sec-WebSocket-Accept header is wrong)"
		return e
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxRefusalBody))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	text := body
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		// A compressing middleware in front of the handshake answers a
		// client that sent Accept-Encoding: gzip with a compressed body.
		if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
			text, _ = io.ReadAll(io.LimitReader(zr, maxRefusalBody))
		}
	}
	reason := strings.TrimSpace(strings.ToValidUTF8(string(text), "\uFFFD"))
	if len(reason) > maxRefusalReason {
		reason = reason[:maxRefusalReason]
		for !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
		reason += "…"
	}
	e.Reason = reason
	return e
}

// redactedURL is u without what may be secret, for messages: no user
// information, no query, no fragment.
func redactedURL(u *url.URL) string {
	v := *u
	v.User, v.RawQuery, v.ForceQuery, v.Fragment, v.RawFragment = nil, "", false, "", ""
	return v.String()
}
