package service

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/gorilla/websocket"

	"github.com/wsmap/wsmap/protocol"
)

// ErrBadHandshake is wrapped by Dial's error when the server answered with
// something other than a valid 101 Switching Protocols response.
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

	// Options configures the connection. HandshakeTimeout bounds the whole
	// opening handshake, in addition to Dial's ctx.
	Options Options
}

// Dial opens a client connection to a ws:// or wss:// URL and returns the
// same *Conn a server handler gets. The returned *http.Response is the
// server's handshake response; on a refused handshake it is returned with
// the error, with up to 1 KiB of its body, so the caller can read the
// status and the server's reason.
//
// ctx bounds the handshake only; the connection lives until closed. Its
// Context carries ctx's values.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	var o DialOptions
	if opts != nil {
		o = *opts
	}
	for _, p := range o.Subprotocols {
		if !protocol.ValidToken(p) {
			return nil, nil, fmt.Errorf("service: Dial: subprotocol %q is not a valid token", p)
		}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("service: Dial: %w", err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, nil, fmt.Errorf("service: Dial %s: scheme must be ws or wss", rawURL)
	}
	copts := o.Options.withDefaults()
	d := websocket.Dialer{
		NetDialContext:    o.NetDialContext,
		TLSClientConfig:   o.TLSConfig,
		HandshakeTimeout:  copts.HandshakeTimeout,
		Subprotocols:      o.Subprotocols,
		EnableCompression: copts.Compression,
	}
	ws, resp, err := d.DialContext(ctx, rawURL, o.Header)
	if err != nil {
		if errors.Is(err, websocket.ErrBadHandshake) {
			status := "no response"
			if resp != nil {
				status = resp.Status
			}
			return nil, resp, fmt.Errorf("%w: %s: %s", ErrBadHandshake, rawURL, status)
		}
		return nil, resp, fmt.Errorf("service: Dial %s: %w", rawURL, err)
	}
	if p := ws.Subprotocol(); p != "" && !protocol.Offer(o.Subprotocols).Contains(p) {
		_ = ws.NetConn().Close()
		return nil, resp, fmt.Errorf("%w: %q (offered %q)", ErrProtocolNotOffered, p, o.Subprotocols)
	}
	compressed := copts.Compression && headerHasExtension(resp.Header, "permessage-deflate")
	c := newConn(ctx, ws, copts, false, compressed)
	c.resp = resp
	c.req = resp.Request
	c.start()
	return c, resp, nil
}
