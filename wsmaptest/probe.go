package wsmaptest

import (
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/wsmap/wsmap/internal/probe"
	"github.com/wsmap/wsmap/internal/routeslot"
	"github.com/wsmap/wsmap/protocol"
)

// ProbeResult is what a handshake would get from a handler.
type ProbeResult struct {
	// Status is 101 (http.StatusSwitchingProtocols) for a handshake that
	// would be accepted, else the refusal's status.
	Status int
	// Reason is the refusal's reason: the first line of its body.
	Reason string
	// Protocol is the subprotocol an accepted handshake gets; "" for
	// none.
	Protocol string
	// Route is the pattern of the route that served the handshake, when
	// a mux did, behind the patterns of the chi routes that lead to it.
	Route string
	// Header holds the refusal's headers, such as Retry-After.
	Header http.Header
}

// UpgradeRequest returns a valid WebSocket upgrade request for target (a
// path with its query, or an absolute URL) that offers the given
// subprotocols, for Probe. Add headers (Origin, Authorization) to it as a
// client would send them.
func UpgradeRequest(target string, offer ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if len(offer) > 0 {
		r.Header.Set(protocol.HeaderProtocol, strings.Join(offer, ", "))
	}
	return r
}

// Probe asks h what the handshake r would get, without a network and
// without upgrading: the route, the subprotocol and the status, with the
// refusal's reason. h is a mux, an Endpoint, or any handler in front of
// them (middleware included: an Auth that refuses gives its 401). No
// connection handler runs.
func Probe(h http.Handler, r *http.Request) ProbeResult {
	r, slot := routeslot.With(r)
	r, p := probe.With(r)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	res := ProbeResult{Route: slot.Pattern}
	if p.Accepted {
		res.Status, res.Protocol = http.StatusSwitchingProtocols, p.Subprotocol
		return res
	}
	res.Status, res.Header = rec.Code, rec.Header()
	reason, _, _ := strings.Cut(rec.Body.String(), "\n")
	res.Reason = strings.TrimSpace(reason)
	return res
}
