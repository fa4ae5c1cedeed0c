// Package otelwsmap instruments wsmap with OpenTelemetry: a span per
// WebSocket connection from the handshake to the close, a span per
// refused handshake, a span per call of the message layer, and metrics
// through the OTel metrics API, labelled by route pattern and
// subprotocol, never by raw path. It is a package of its own so that the
// rest of wsmap does not link OpenTelemetry.
//
//	tel, err := otelwsmap.New(nil) // the global tracer and meter providers
//	m := &mux.Mux{}
//	m.Use(tel.Handshake())
//	m.UseConn(tel.Conn())
//	// and, for a message-level protocol:
//	message.New(c, jsonrpc.Codec{}, router, &message.Options{OnCall: tel.OnCall})
//
// # Spans
//
// The connection's span, of kind server, is named "websocket " and the
// route pattern ("websocket /chat/(?P<room>[a-z]+)"; "websocket" where no
// router set one). It starts when the handshake reaches Handshake's
// middleware, as a child of the span the request's context carries
// already (an otelhttp's around the router), else of the trace context
// the request carries (W3C traceparent through the configured
// propagator), and ends when the connection has closed and its handler
// returned, or its goroutine exited (runtime.Goexit: closed with 1011).
// Its attributes:
//
//	http.request.method            GET
//	http.route                     the route pattern
//	http.response.status_code      101, or the refusal's status
//	url.path, url.scheme           the request's path (on spans only) and scheme
//	server.address, server.port    from the Host header
//	network.peer.address, network.peer.port
//	network.protocol.name          "websocket"
//	user_agent.original
//	websocket.subprotocol          the negotiated subprotocol, when there is one
//	websocket.close.code           int: the close code, 1006 for none
//	websocket.close.reason         the close frame's reason
//	websocket.close.initiator      "server", "client", or "none" (ended without a close frame)
//	websocket.received.messages, websocket.received.bytes   int: messages and payload bytes read
//	websocket.sent.messages, websocket.sent.bytes           int: messages and payload bytes written
//	error.type                     a handler's failure, or 1011: "handler_error", "panic" or "1011"
//
// Its status is Error when the handler failed (an error other than the
// connection's close, a panic, or runtime.Goexit) or this side closed
// the connection with 1011 (a peer's 1011 is the peer's failure).
// With Options.MessageEvents, every n-th message each way is an event
// "websocket.message" on the span (attributes network.io.direction
// "receive" or "transmit", websocket.message.type "text" or "binary",
// websocket.message.size), on sampled spans only.
//
// A refused handshake is a span of the same name that ends with the
// refusal, with the request's attributes, http.response.status_code
// and websocket.refusal.reason, the first line of the response's body.
// For a 5xx, error.type is the status and the span's status is Error
// (HTTP's rule for servers: a 4xx is the client's error).
//
// A call of the message layer, either way, is a span named by its
// method (RPC's convention), of kind server for the peer's calls and
// notifications and client for this side's, with rpc.method,
// rpc.system.name (the codec's, if it has a method System() string:
// "jsonrpc", "ocpp"), websocket.call.id, websocket.call.kind ("call" or
// "notify"), http.route and websocket.subprotocol, and on failure
// rpc.response.status_code (the protocol's error code) and error.type.
// A call the router does not know has rpc.method "_OTHER" and
// rpc.method_original. Each call span links to its connection's span
// (with Handshake in front, or under the handler's ctx); it starts a
// trace of its own, also when made under c.Context() (which carries the
// handshake's trace context), but for this side's calls made under
// another span (an HTTP request's, say), which is then its parent. Its
// status is Error when this side's call failed, or when the handler of
// the peer's call failed (not for an error message it chose, nor for
// an unknown method or invalid parameters).
//
// # Metrics
//
//	websocket.server.active_connections   {connection}  updown counter   http.route, websocket.subprotocol
//	websocket.server.connection.duration  s             histogram        http.route, websocket.subprotocol
//	websocket.server.messages             {message}     counter          http.route, websocket.subprotocol, network.io.direction
//	websocket.server.io                   By            counter          (payload bytes) as messages
//	websocket.server.closes               {connection}  counter          http.route, websocket.subprotocol, websocket.close.code, websocket.close.initiator
//	websocket.server.handshake.refusals   {handshake}   counter          http.response.status_code, http.route (when a route refused it)
//	rpc.server.call.duration              s             histogram        rpc.method, rpc.system.name, websocket.call.kind, http.route, websocket.subprotocol, [error.type, rpc.response.status_code]
//	rpc.client.call.duration              s             histogram        as rpc.server.call.duration
//
// The labels are bounded: routes' patterns, never raw paths; negotiated
// subprotocols; methods the router serves ("_OTHER" for the rest) or
// this side calls; error codes this side answers with. What the peer
// chooses is bounded so: the error code it answers this side's call
// with is kept only if the protocol defines it (ocppj's Version.Codes;
// JSON-RPC's reserved -32768 to -32000), else "_OTHER"; the close code
// it closes with, only if RFC 6455 or IANA's registry defines it (1000
// to 1015), else "_OTHER" (its 3000 to 4999). The spans keep them as
// they are.
//
// Messages, bytes and open connections are kept in atomic counters per
// route and subprotocol and read by the metrics' callback at each
// collection, so that a message costs four atomic additions and no
// allocation. A connection's duration and close are recorded when it
// ends.
//
// # Concurrency
//
// A Telemetry is safe for concurrent use; its middleware and OnCall run
// on the goroutines of the handshakes, connections and calls they
// observe, and start none.
package otelwsmap
