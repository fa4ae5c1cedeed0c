// Package wsmaptest is a test kit for wsmap services, as net/http/httptest
// is for HTTP ones. Nothing in it opens a socket:
//
//   - NewServer serves any http.Handler (a mux, an Endpoint, a chi router
//     with middleware) over in-memory connections; its Dial returns a
//     real *service.Conn, or, for a refused handshake, a
//     *service.HandshakeError with the status and the reason. Any other
//     client (service.Redial, a client package of your own) reaches it
//     with its DialOptions.
//   - Connect serves one service.Handler and returns the client's end of
//     a connection to it; Pair returns both ends. Real frames and
//     handshakes go between them.
//   - Probe asks a handler which route, subprotocol and status a
//     handshake would get, without upgrading it.
//   - ExpectClose waits for a connection's close and checks its code;
//     Cut makes a server's connections drop every byte, to test keepalive.
//
// Everything works inside a testing/synctest bubble: the connections
// block only on channels, so a test of keepalive or of a timeout runs on
// the bubble's fake clock, in no time. A Server must then be made inside
// the bubble; one made outside refuses the dials made inside (see
// NewServer).
package wsmaptest
