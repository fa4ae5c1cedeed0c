package message

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
)

// Request is a call or a notification from the peer, as a Handler gets
// it.
type Request struct {
	// Peer is the connection it came on: a handler calls back through it.
	Peer *Peer
	// Method is what it asks for (JSON-RPC's method, OCPP-J's action).
	Method string
	// ID is the call's ID, in the codec's form. A notification's result
	// is not sent; its ID is "" but in protocols whose typed messages
	// carry one.
	ID string
	// Params are the parameters as JSON; nil when the message had none.
	Params json.RawMessage
}

// A Handler serves the peer's calls and notifications. Its result is
// written as JSON (a json.RawMessage as it is); an error answers the call
// with an error message: an *Error as it is, an error wrapping
// ErrUnknownMethod or ErrInvalidParams as the protocol says, anything
// else (and a panic) with the protocol's internal error, reported as the
// handler's failure (see Options.OnError).
//
// ctx ends when the connection does; RequestFrom(ctx) returns the
// request. Handlers run on goroutines of their own, as many at once as
// Options.MaxIncoming allows.
type Handler interface {
	ServeMessage(ctx context.Context, req *Request) (result any, err error)
}

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc func(ctx context.Context, req *Request) (any, error)

// ServeMessage calls f(ctx, req).
func (f HandlerFunc) ServeMessage(ctx context.Context, req *Request) (any, error) {
	return f(ctx, req)
}

type requestKey struct{}

// RequestFrom returns the request a handler's ctx was made for, or nil.
func RequestFrom(ctx context.Context) *Request {
	r, _ := ctx.Value(requestKey{}).(*Request)
	return r
}

// Func makes a Handler of a function of typed parameters and result: the
// request's parameters are decoded from JSON into a P (left zero when
// the message has none), and an error decoding them answers the call as
// ErrInvalidParams, wrapping the decoder's error (a
// *json.UnmarshalTypeError for a field of the wrong type).
func Func[P, R any](f func(ctx context.Context, params P) (R, error)) Handler {
	return HandlerFunc(func(ctx context.Context, req *Request) (any, error) {
		var p P
		if len(req.Params) > 0 {
			if err := json.Unmarshal(req.Params, &p); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrInvalidParams, err)
			}
		}
		return f(ctx, p)
	})
}

// Router is a Handler that dispatches each request to the handler of its
// method. The zero value is an empty Router; Handle may be called while
// it serves.
type Router struct {
	mu sync.RWMutex
	m  map[string]Handler
}

// Handle registers h for method. It panics if method is empty, h is nil,
// or method has a handler already.
func (r *Router) Handle(method string, h Handler) {
	if method == "" || h == nil {
		panic("message: Router.Handle needs a method and a handler")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[method]; dup {
		panic(fmt.Sprintf("message: method %q registered twice", method))
	}
	if r.m == nil {
		r.m = make(map[string]Handler)
	}
	r.m[method] = h
}

// HandleFunc registers f for method, as Handle does.
func (r *Router) HandleFunc(method string, f func(ctx context.Context, req *Request) (any, error)) {
	r.Handle(method, HandlerFunc(f))
}

// Methods returns the methods registered, sorted.
func (r *Router) Methods() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ms := make([]string, 0, len(r.m))
	for m := range r.m {
		ms = append(ms, m)
	}
	slices.Sort(ms)
	return ms
}

// ServeMessage serves req with the handler of its method, or answers it
// with ErrUnknownMethod.
func (r *Router) ServeMessage(ctx context.Context, req *Request) (any, error) {
	r.mu.RLock()
	h := r.m[req.Method]
	r.mu.RUnlock()
	if h == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownMethod, req.Method)
	}
	return h.ServeMessage(ctx, req)
}
