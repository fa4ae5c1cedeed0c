package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
	qerrors "github.com/graph-gophers/graphql-go/errors"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// connState is the state of a connection of either protocol, as its
// state machine (transport.go, legacy.go) moves it.
type connState uint8

// The states of a connection.
const (
	// awaitingInit: open, connection_init not received yet.
	awaitingInit connState = iota + 1
	// acknowledged: connection_init received and answered with
	// connection_ack; operations may run.
	acknowledged
	// closing: the connection is being closed; nothing more is done.
	closing
)

var connStateNames = [...]string{"", "awaitingInit", "acknowledged", "closing"}

// String returns the state's name.
func (s connState) String() string {
	if int(s) < len(connStateNames) && s != 0 {
		return connStateNames[s]
	}
	return fmt.Sprintf("connState(%d)", uint8(s))
}

// framing is what differs between the protocols in the messages of an
// operation: the type of a result message and the payload of an error
// message. Both name the end of an operation "complete" and its error
// "error".
type framing struct {
	result string
	errors func(errs []*qerrors.QueryError) json.RawMessage
}

// session is one connection's GraphQL state, whichever protocol it
// speaks: the message-level peer, the operations it runs, and the
// context that ends them. A protocol's session embeds it and adds its
// state machine.
type session struct {
	exec  *executor
	frame framing
	conn  *service.Conn
	peer  *message.Peer
	ops   operations
	wg    sync.WaitGroup // the goroutines of its operations, of ka, and of a close

	// ctx ends once the connection has ended (it is closing or closed)
	// and Serve has returned: never while a write may be under way on an
	// open connection, which ending its context would break off.
	ctx    context.Context
	cancel context.CancelFunc
}

// errConnectionEnded is the cause of the operations still active when
// their connection ends.
var errConnectionEnded = errors.New("the connection ended")

// sessionKey is the context key under which a handler finds its
// connection's protocol session.
type sessionKey struct{}

// sessionFrom returns the protocol session of a message handler's ctx.
func sessionFrom[S any](ctx context.Context) S {
	s, _ := ctx.Value(sessionKey{}).(S)
	return s
}

// serve runs the connection c: it reads the client's messages with
// codec, dispatches them to h (whose handlers find self in their ctx), one
// at a time and in order, and calls initTimedOut once initTimeout has
// passed. It returns when the connection has ended, after every
// goroutine of the session has ended.
func (s *session) serve(ctx context.Context, c *service.Conn, codec message.Codec, h message.Handler, self any, initTimeout time.Duration, initTimedOut func()) error {
	s.conn = c
	s.ctx, s.cancel = context.WithCancel(ctx)
	defer s.cancel()
	// One handler at a time, in order: connection_init before the
	// subscribe that follows it, a subscription set up before the next
	// message is read. Handlers do not wait for operations, which run
	// on goroutines of their own.
	s.peer = message.New(c, codec, h, &message.Options{MaxIncoming: 1, OnError: s.onError})
	fired := make(chan struct{})
	timer := time.AfterFunc(initTimeout, func() {
		defer close(fired)
		initTimedOut()
	})
	err := s.peer.Serve(context.WithValue(s.ctx, sessionKey{}, self))
	if !timer.Stop() {
		<-fired
	}
	s.cancel()
	s.ops.closeAll(errConnectionEnded)
	s.wg.Wait()
	return err
}

// close closes the connection with code and reason, and returns once it
// has closed. Reading ends with it, and so does Serve. The connection is
// closed rather than Serve's context cancelled: a message being written
// meanwhile (an answer of the peer's, an operation's result) finishes, and
// the close frame follows it, where cancelling the context it is written
// with would break the connection off without one.
func (s *session) close(code protocol.CloseCode, reason string) {
	_ = s.conn.Close(code, reason)
}

// onError hears what the peer reports: a message refused because too
// many wait their turn, which would otherwise be dropped unanswered,
// closes the connection (on a goroutine of its own: the peer reports it
// from its reading goroutine); a handler's failure is logged.
func (s *session) onError(p *message.Peer, err error) {
	var he *message.HandlerError
	switch {
	case errors.Is(err, message.ErrBusy):
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.close(protocol.ClosePolicyViolation, "too many messages waiting to be handled")
		}()
	case errors.As(err, &he):
		slog.Default().Error("graphql message handler failed", "protocol", p.Conn().Subprotocol(),
			"remote", p.Conn().RemoteAddr().String(), "type", he.Method, "id", he.ID, "error", he.Err)
	}
}

// send writes one message of the server's. It fails only on a connection
// that is ending, which the session learns from its context.
func (s *session) send(typ, id string, payload json.RawMessage) {
	_ = s.peer.Send(s.ctx, message.Message{Kind: message.KindNotify, Method: typ, ID: id, Payload: payload})
}

// sendErrors sends errs as operation id's error.
func (s *session) sendErrors(id string, errs []*qerrors.QueryError) {
	s.send("error", id, s.frame.errors(errs))
}

// start runs req as operation id, which the caller has checked is not
// active. Errors found before execution are sent at once as the
// operation's error, and it ends there. Otherwise the operation becomes
// active, a subscription's source stream is set up (its resolver runs)
// before start returns, so that what is published afterwards reaches it,
// and the operation runs on a goroutine of its own.
func (s *session) start(id string, req *request) {
	typ, errs := s.exec.plan(req)
	if errs != nil {
		s.sendErrors(id, errs)
		return
	}
	ctx, cancel := context.WithCancelCause(s.ctx)
	op := s.ops.add(id, cancel)
	if op == nil { // the connection is ending
		cancel(nil)
		return
	}
	ctx = withFailure(ctx, func(err error) { cancel(&operationError{err}) })
	var results <-chan any
	if typ == opSubscription {
		var err error
		if results, err = s.exec.subscribe(ctx, req); err != nil {
			s.ops.release(id, op)
			cancel(nil)
			s.sendErrors(id, []*qerrors.QueryError{{Message: err.Error()}})
			return
		}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(op.done)
		defer cancel(nil)
		s.run(ctx, id, op, req, results)
	}()
}

// run executes a query or mutation (results nil), or relays a
// subscription's results, until the operation ends.
func (s *session) run(ctx context.Context, id string, op *operation, req *request, results <-chan any) {
	if results == nil {
		s.finish(ctx, id, op, s.exec.exec(ctx, req))
		return
	}
	for {
		select {
		case <-ctx.Done():
			s.finish(ctx, id, op, nil)
			return
		case v, ok := <-results:
			if !ok {
				s.finish(ctx, id, op, nil)
				return
			}
			if resp, _ := v.(*graphql.Response); resp != nil && ctx.Err() == nil {
				s.sendResult(id, resp)
			}
		}
	}
}

// finish ends operation id: it frees the ID, then sends last (a query's
// or mutation's result) and complete; or, if a resolver failed the
// operation, its error, without complete; or nothing if the client
// stopped it or the connection is ending.
func (s *session) finish(ctx context.Context, id string, op *operation, last *graphql.Response) {
	s.ops.release(id, op)
	if ctx.Err() != nil {
		var oe *operationError
		if errors.As(context.Cause(ctx), &oe) && s.ctx.Err() == nil {
			s.sendErrors(id, []*qerrors.QueryError{{Message: oe.Err.Error()}})
		}
		return
	}
	if last != nil {
		s.sendResult(id, last)
	}
	s.send("complete", id, nil)
}

// sendResult sends one execution result of operation id.
func (s *session) sendResult(id string, resp *graphql.Response) {
	payload, err := json.Marshal(resp)
	if err != nil {
		s.sendErrors(id, []*qerrors.QueryError{{Message: "the result cannot be written as JSON"}})
		return
	}
	s.send(s.frame.result, id, payload)
}
