// Package message is the message level over a service.Conn: what
// message-level subprotocols (JSON-RPC 2.0, OCPP-J, protocols of typed
// messages) need on top of a connection. A Codec reads and writes one
// protocol's messages; a Peer dispatches the peer's calls and
// notifications by method to a Handler (a Router of handlers, typically),
// makes calls to the peer, correlating each answer with its call by ID,
// and answers unknown methods and malformed messages as the protocol
// says.
//
//	r := &message.Router{}
//	r.Handle("add", message.Func(func(ctx context.Context, p [2]int) (int, error) {
//		return p[0] + p[1], nil
//	}))
//	m := mux.MustNew(mux.Route{Pattern: "/rpc", Protocols: []mux.Protocol{{
//		Name: "jsonrpc",
//		Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
//			return message.New(c, jsonrpc.Codec{}, r, nil).Serve(ctx)
//		}),
//	}}})
//
// Two versions of a protocol are two entries of the route's protocol
// table, each a Peer with its version's Codec (ocppj.V16, ocppj.V201)
// over handlers that share the application's code.
//
// # Calls both ways
//
// Either end calls the other with Peer.Call, from any goroutine, handlers
// included, and waits for the answer: its result, the peer's error
// message as an *Error, ErrTimeout after Options.CallTimeout, or the
// connection's close. Options.MaxOutgoing bounds the calls in flight
// (OCPP-J allows one: a second waits its turn), Options.MaxIncoming the
// peer's calls handled at once, and Options.MaxQueued those waiting
// their turn, beyond which a call is refused with ErrBusy.
//
// # Errors
//
// A handler's *Error is sent as it is; ErrUnknownMethod and
// ErrInvalidParams are answered with the protocol's codes; any other
// error or a panic with the protocol's internal error, without its text,
// and reported to Options.OnError (logged through slog.Default() when
// none is set). The Codec decides each code: see packages jsonrpc and
// ocppj.
//
// # Concurrency
//
// Serve reads on its caller's goroutine. Each of the peer's calls (or
// batches) is handled on a goroutine of its own, at most MaxIncoming at
// once; a goroutine that finishes takes the next call waiting, and ends
// when none is; Serve waits for them before it returns. Call, Notify and
// Send may be called from any goroutine; Call blocks its caller until the
// answer, and starts no goroutine.
package message
