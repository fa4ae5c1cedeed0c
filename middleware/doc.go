// Package middleware holds the layers a production WebSocket service puts
// in front of and around its handlers.
//
// Handshake middleware has chi's type, func(http.Handler) http.Handler,
// and runs before the upgrade: it can refuse a handshake with an HTTP
// status and a reason, or attach values (an identity, a request ID) to the
// request's context, which the connection's context keeps. Origin,
// Auth, ConnLimit, RateLimit, RequestID, LogHandshake and
// InstrumentHandshake are of this kind.
//
// Connection middleware, func(service.Handler) service.Handler, wraps the
// handler of each accepted connection: Log, Recover, Instrument and
// MessageRate.
//
// Both kinds attach to a whole mux (mux.Mux.Use and UseConn), a group of
// routes (mux.Mux.Group) or one route (mux.Route's Middleware and
// ConnMiddleware); handshake middleware also fits in a chi router in front
// of a mounted mux. The package does not import the mux: it works as well
// around a service.Endpoint.
//
// Constructors take a pointer to their options struct, nil (or a zero
// field) meaning the default, or their one required argument (a logger, a
// report function, the metrics); a required value left out panics when
// the middleware is made, with a message saying which. Nothing here logs
// on its own: the loggers are the caller's.
//
// docs/middleware.md has the table of every layer, its defaults, and the
// status or close code it produces.
package middleware
