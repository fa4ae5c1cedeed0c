// Package probe lets a test ask what a handshake would get without
// upgrading it: a request carrying a probe is answered by the server's
// accepting code with the outcome instead of an upgrade, and no handler
// runs.
package probe

import (
	"context"
	"errors"
	"net/http"
)

// Probe receives the outcome of an accepted handshake.
type Probe struct {
	Accepted    bool
	Subprotocol string
}

type key struct{}

// With returns a copy of r carrying a new probe, and the probe.
func With(r *http.Request) (*http.Request, *Probe) {
	p := &Probe{}
	return r.WithContext(context.WithValue(r.Context(), key{}, p)), p
}

// From returns the probe ctx carries, or nil.
func From(ctx context.Context) *Probe {
	p, _ := ctx.Value(key{}).(*Probe)
	return p
}

// ErrProbed is the error of an accept that answered a probe instead of
// upgrading.
var ErrProbed = errors.New("probe: handshake accepted, not upgraded")
