package service

import (
	"net/http"
	"strings"

	"github.com/wsmap/wsmap/protocol"
)

// Endpoint is an http.Handler that serves every WebSocket connection made
// to it with one Handler: it checks the handshake, negotiates the
// subprotocol, upgrades, and runs the handler (see Handler). It is the
// single-route form of the service mapper in package mux.
type Endpoint struct {
	// Handler serves each connection. Required.
	Handler Handler

	// Protocols are the subprotocols the handler speaks, in the server's
	// order of preference. A client that offers none is served with no
	// subprotocol. A client whose offer shares none with Protocols is
	// refused with 400, naming them, unless FallbackNoMatch is set.
	Protocols []string

	// Policy decides between several protocols both sides support.
	// Defaults to the client's order.
	Policy protocol.Policy

	// FallbackNoMatch serves a client whose offer matches none of
	// Protocols with no subprotocol instead of refusing it.
	FallbackNoMatch bool

	// CheckOrigin is as in AcceptOptions. Defaults to same-origin.
	CheckOrigin func(r *http.Request) bool

	// Options configures each connection; nil means the defaults.
	Options *Options
}

// ServeHTTP upgrades r and starts the handler on a goroutine of its own
// (see Upgrade); it returns once the connection is upgraded.
// It panics if e.Handler is nil, which net/http recovers and logs.
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e.Handler == nil {
		panic("service: Endpoint.Handler is nil")
	}
	offer, err := CheckHandshake(r)
	if err != nil {
		_ = refuse(w, err)
		return
	}
	proto, herr := negotiate(offer, e.Protocols, e.Policy, e.FallbackNoMatch)
	if herr != nil {
		herr.WriteResponse(w)
		return
	}
	_ = serveOffer(w, r, offer, &AcceptOptions{Subprotocol: proto, CheckOrigin: e.CheckOrigin, Options: e.Options}, e.Handler)
}

// Negotiate picks the subprotocol to answer offer with, for routers. An
// empty offer gives "" (no subprotocol). An offer that shares nothing with
// supported gives "" when fallback is set and otherwise a 400
// *HandshakeError that names the supported protocols.
func Negotiate(offer protocol.Offer, supported []string, p protocol.Policy, fallback bool) (string, error) {
	proto, herr := negotiate(offer, supported, p, fallback)
	if herr != nil {
		return "", herr
	}
	return proto, nil
}

// negotiate is Negotiate, with the refusal's concrete type.
func negotiate(offer protocol.Offer, supported []string, p protocol.Policy, fallback bool) (string, *HandshakeError) {
	if len(offer) == 0 {
		return "", nil
	}
	if proto, ok := protocol.Select(offer, supported, p); ok {
		return proto, nil
	}
	if fallback {
		return "", nil
	}
	reason := "no offered subprotocol is supported"
	if len(supported) > 0 {
		reason += "; supported: " + strings.Join(supported, ", ")
	} else {
		reason += "; this endpoint speaks no subprotocol"
	}
	return "", &HandshakeError{Status: http.StatusBadRequest, Reason: reason}
}
