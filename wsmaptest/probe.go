package wsmaptest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

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
//
// An accepted handshake is told by its 101 response, which h writes on
// the connection it hijacks; the probe's connection takes that response
// and then fails the write, so that the upgrade goes no further.
func Probe(h http.Handler, r *http.Request) ProbeResult {
	r, slot := routeslot.With(r)
	w := &probeWriter{ResponseRecorder: httptest.NewRecorder()}
	h.ServeHTTP(w, r)
	res := ProbeResult{Route: slot.Pattern}
	if w.conn != nil && w.conn.written.Len() > 0 {
		resp, err := http.ReadResponse(bufio.NewReader(&w.conn.written), r)
		if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
			res.Status, res.Protocol = resp.StatusCode, resp.Header.Get(protocol.HeaderProtocol)
			return res
		}
	}
	res.Status, res.Header = w.Code, w.Header()
	reason, _, _ := strings.Cut(w.Body.String(), "\n")
	res.Reason = strings.TrimSpace(reason)
	return res
}

// probeWriter records a response, and hands a probeConn to a handler that
// hijacks the connection to upgrade it.
type probeWriter struct {
	*httptest.ResponseRecorder
	conn *probeConn
}

// Hijack returns a connection that takes the handshake's response.
func (w *probeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.conn != nil {
		return nil, nil, errors.New("wsmaptest: connection already hijacked")
	}
	w.conn = &probeConn{}
	return w.conn, bufio.NewReadWriter(bufio.NewReader(w.conn), bufio.NewWriter(w.conn)), nil
}

// errProbed ends an upgrade once its response is written.
var errProbed = errors.New("wsmaptest: probed, not upgraded")

// probeConn is the hijacked connection of a probe: it has nothing to
// read, keeps the first write (the handshake's response) and fails it.
type probeConn struct {
	written bytes.Buffer
}

func (c *probeConn) Read([]byte) (int, error) { return 0, io.EOF }

func (c *probeConn) Write(p []byte) (int, error) {
	if c.written.Len() == 0 {
		c.written.Write(p)
	}
	return 0, errProbed
}

func (c *probeConn) Close() error                     { return nil }
func (c *probeConn) LocalAddr() net.Addr              { return probeAddr{} }
func (c *probeConn) RemoteAddr() net.Addr             { return probeAddr{} }
func (c *probeConn) SetDeadline(time.Time) error      { return nil }
func (c *probeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *probeConn) SetWriteDeadline(time.Time) error { return nil }

// probeAddr is the address of both ends of a probeConn.
type probeAddr struct{}

func (probeAddr) Network() string { return "probe" }
func (probeAddr) String() string  { return "probe" }
