package mux

import (
	"errors"
	"net/http"
	"strings"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// routeHandler serves one request that matched a route: a plain request
// goes to the route's HTTP handler, a handshake is checked, negotiated,
// upgraded and handed to the chosen handler.
type routeHandler struct {
	m       *Mux
	c       *compiled
	connMws []func(service.Handler) service.Handler
}

func (rh *routeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := rh.c
	if c.HTTP != nil && !service.IsUpgrade(r) {
		c.HTTP.ServeHTTP(w, r)
		return
	}
	// The offer is read here to choose the handler; service.Upgrade checks
	// the whole handshake. A refused negotiation checks it first, so that
	// a malformed handshake is answered as one whatever it offers.
	offer, err := protocol.OfferFromHeader(r.Header)
	var proto string
	var h service.Handler
	var herr *service.HandshakeError
	if err == nil {
		proto, h, herr = c.negotiate(offer)
	}
	if err != nil || herr != nil {
		refuse(w, r, err, herr)
		return
	}
	opts := rh.m.Options
	if c.Options != nil {
		opts = c.Options
	}
	for i := len(c.ConnMiddleware) - 1; i >= 0; i-- {
		h = c.ConnMiddleware[i](h)
	}
	for i := len(rh.connMws) - 1; i >= 0; i-- {
		h = rh.connMws[i](h)
	}
	// Upgrade answers a refused handshake itself.
	_ = service.Upgrade(w, r, &service.AcceptOptions{Subprotocol: proto, CheckOrigin: rh.m.CheckOrigin, Options: opts}, h)
}

// refuse answers a handshake the route cannot serve: with what is wrong
// with the handshake, if anything, else with the offer's error or herr.
func refuse(w http.ResponseWriter, r *http.Request, offerErr error, herr *service.HandshakeError) {
	_, err := service.CheckHandshake(r)
	if err == nil && herr == nil {
		err = offerErr // CheckHandshake parses the offer too: not reached
	}
	if err != nil {
		var he *service.HandshakeError
		if errors.As(err, &he) {
			he.WriteResponse(w)
		} else {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
		return
	}
	herr.WriteResponse(w)
}

// negotiate picks the subprotocol and handler for offer, or the refusal.
func (c *compiled) negotiate(offer protocol.Offer) (string, service.Handler, *service.HandshakeError) {
	if len(offer) == 0 {
		if c.NoProtocol != nil {
			return "", c.NoProtocol, nil
		}
		return "", nil, &service.HandshakeError{Status: http.StatusBadRequest,
			Reason: "this service requires a subprotocol; supported: " + strings.Join(c.supported, ", ")}
	}
	if p, ok := protocol.Select(offer, c.supported, c.Policy); ok {
		for _, e := range c.Protocols {
			if e.Name == p {
				return p, e.Handler, nil
			}
		}
	}
	if c.FallbackNoMatch {
		return "", c.NoProtocol, nil
	}
	_, err := service.Negotiate(offer, c.supported, c.Policy, false)
	var herr *service.HandshakeError
	errors.As(err, &herr)
	return "", nil, herr
}
