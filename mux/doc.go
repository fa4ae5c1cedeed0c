// Package mux is wsmap's service mapper: a table of routes, each a
// regular expression over the request path with handlers by subprotocol,
// served as one http.Handler. It is the Go counterpart of Racket's
// ws-service-mapper:
//
//	m := mux.MustNew(
//		mux.Route{Pattern: `/echo`, Protocols: []mux.Protocol{{Name: "echo.v2", Handler: echoV2}, {Name: "echo.v1", Handler: echoV1}}, NoProtocol: echo},
//		mux.Route{Pattern: `/chat/(?P<room>[a-z]+)`, NoProtocol: chat},
//	)
//
// # Routing
//
// A pattern is an RE2 expression matched against the whole decoded path,
// as ^(?:pattern)$, without the query string. The first registered route
// that matches is final. Named groups become path values, read with
// r.PathValue or Conn.Param. A path that matches no route is answered by
// NotFound (404 by default).
//
// Mistakes are found when a route is added: an invalid pattern (with the
// offset of the problem); a chi-style parameter such as {session} or a
// ServeMux-style wildcard such as {path...}, which a regular expression
// would read as literal text (the error shows the (?P<session>[^/]+) or
// (?P<path>.*) to write instead); a pattern that cannot match a path,
// such as one without its leading "/"; a pattern registered twice (/a
// and ^/a$ are the same pattern); a subprotocol name that is not an
// RFC 7230 token or is listed twice in a route; a missing handler, nil
// or holding a nil function or pointer, and a nil middleware. New and
// Add return them as *RouteError; MustNew and Handle panic with the same
// message, and Use, UseConn and Group panic on a nil middleware.
//
// Lookup does not try every pattern: routes are indexed by the literal
// prefix of their pattern, so its cost grows slowly with the table.
//
// # Negotiation
//
// Within a route, the subprotocol is chosen from the client's offer by
// the route's policy (the client's order by default); the handler
// registered for it serves the connection. A client that offers nothing
// is served by NoProtocol. An offer with no match is refused with 400
// naming the supported protocols, unless FallbackNoMatch sends it to
// NoProtocol. A protocol the client did not offer is never echoed.
//
// # Refusals
//
// Every refusal is a complete HTTP response with a one-line plain-text
// reason: 404 for no route, 426 with Upgrade: websocket for a plain
// request to a route without an HTTP handler, 426 with
// Sec-WebSocket-Version: 13 for another version, 405 for a method other
// than GET, 400 for a bad key or offer, 403 for a cross-origin browser
// handshake.
//
// # Mounting
//
// Mounted in a chi router (r.Mount("/ws", m)), patterns match the path
// below the mount point, chi's URL parameters stay readable (chi copies
// them to r.PathValue), and chi middleware in front keeps working as long
// as its ResponseWriter wrappers can be unwrapped for hijacking. Under
// net/http, use http.StripPrefix or a ServeMux pattern.
//
// # Concurrency
//
// A Mux is safe for concurrent use: routes may be added while it serves.
// Use must be called before it serves its first request.
package mux
