package main

import (
	"context"
	"errors"
	"sync"
)

// errStopped is the cause of an operation that the client stopped
// (graphql-transport-ws's complete, graphql-ws's stop).
var errStopped = errors.New("operation stopped by the client")

// operationError is the cause of an operation that a resolver failed
// (see failOperation): the client is sent Err as the operation's error.
type operationError struct{ Err error }

func (e *operationError) Error() string { return e.Err.Error() }
func (e *operationError) Unwrap() error { return e.Err }

// operations holds a connection's active operations by ID: from the
// client's subscribe (or start) until the operation has sent its last
// message, or until the client stops it. It is safe for concurrent use.
type operations struct {
	mu     sync.Mutex
	active map[string]*operation
	closed bool
}

// operation is one active operation.
type operation struct {
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when its goroutine has ended
}

// add makes id active with cancel, unless it is active already or the
// connection is ending: then it returns nil.
func (o *operations) add(id string, cancel context.CancelCauseFunc) *operation {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed || o.active[id] != nil {
		return nil
	}
	if o.active == nil {
		o.active = make(map[string]*operation)
	}
	op := &operation{cancel: cancel, done: make(chan struct{})}
	o.active[id] = op
	return op
}

// has reports whether id is active.
func (o *operations) has(id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.active[id] != nil
}

// release makes id free again, if op still holds it: an operation calls
// it before its last message, after which the client may use the ID
// again.
func (o *operations) release(id string, op *operation) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.active[id] == op {
		delete(o.active, id)
	}
}

// stop cancels id's operation and waits for its goroutine to end, so
// that nothing more is sent for it once stop returns. It reports whether
// id was active.
func (o *operations) stop(id string) bool {
	o.mu.Lock()
	op := o.active[id]
	delete(o.active, id)
	o.mu.Unlock()
	if op == nil {
		return false
	}
	op.cancel(errStopped)
	<-op.done
	return true
}

// closeAll refuses new operations and cancels the active ones with cause;
// the session's WaitGroup waits for their goroutines.
func (o *operations) closeAll(cause error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	for id, op := range o.active {
		op.cancel(cause)
		delete(o.active, id)
	}
}
