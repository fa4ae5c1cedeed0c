package main

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	qerrors "github.com/graph-gophers/graphql-go/errors"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// legacyEvent is what moves a legacy graphql-ws connection's state
// machine.
type legacyEvent uint8

// The events of graphql-ws.
const (
	lInit        legacyEvent = iota + 1 // connection_init
	lStart                              // start
	lStop                               // stop
	lTerminate                          // connection_terminate
	lInitTimeout                        // the init timeout passed
)

var legacyEventNames = [...]string{"", "connection_init", "start", "stop", "connection_terminate", "init timeout"}

func (e legacyEvent) String() string { return legacyEventNames[e] }

// legacyAction is what a transition does.
type legacyAction uint8

// The actions of graphql-ws.
const (
	lNone      legacyAction = iota // nothing: the message is ignored
	lAck                           // send connection_ack and ka, and ka every keep-alive interval
	lAckAgain                      // send connection_ack again
	lRun                           // start the operation, replacing an active one of the same ID
	lNotReady                      // answer the start with error: no connection_init before it
	lStopOp                        // stop the operation, and send complete if it was active
	lCloseConn                     // close the connection with the transition's code and reason
)

// legacyStep is a transition: the next state and the action.
type legacyStep struct {
	next   connState
	action legacyAction
	code   protocol.CloseCode // for lCloseConn
	reason string             // for lCloseConn
}

type legacyKey struct {
	state connState
	event legacyEvent
}

// legacyTable is the legacy protocol's state machine, as
// subscriptions-transport-ws's PROTOCOL.md describes it. It defines no
// close codes: a connection without connection_init in time is closed
// as graphql-transport-ws closes it.
var legacyTable = map[legacyKey]legacyStep{
	{awaitingInit, lInit}:        {next: acknowledged, action: lAck},
	{awaitingInit, lStart}:       {next: awaitingInit, action: lNotReady},
	{awaitingInit, lStop}:        {next: awaitingInit},
	{awaitingInit, lTerminate}:   {next: closing, action: lCloseConn, code: protocol.CloseNormal},
	{awaitingInit, lInitTimeout}: {next: closing, action: lCloseConn, code: closeInitTimeout, reason: "Connection initialisation timeout"},

	{acknowledged, lInit}:        {next: acknowledged, action: lAckAgain},
	{acknowledged, lStart}:       {next: acknowledged, action: lRun},
	{acknowledged, lStop}:        {next: acknowledged, action: lStopOp},
	{acknowledged, lTerminate}:   {next: closing, action: lCloseConn, code: protocol.CloseNormal},
	{acknowledged, lInitTimeout}: {next: acknowledged},

	{closing, lInit}:        {next: closing},
	{closing, lStart}:       {next: closing},
	{closing, lStop}:        {next: closing},
	{closing, lTerminate}:   {next: closing},
	{closing, lInitTimeout}: {next: closing},
}

// legacySession is a legacy graphql-ws connection.
type legacySession struct {
	session
	keepAlive time.Duration
	mu        sync.Mutex
	state     connState
}

// step moves the state machine by ev and returns the transition, whose
// action the caller then does, outside the lock.
func (l *legacySession) step(ev legacyEvent) legacyStep {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, ok := legacyTable[legacyKey{l.state, ev}]
	if !ok {
		st = legacyStep{next: l.state}
	}
	l.state = st.next
	return st
}

// on handles ev, for operation id (with its request, for a start).
func (l *legacySession) on(ev legacyEvent, id string, req *request) {
	st := l.step(ev)
	switch st.action {
	case lAck:
		l.send("connection_ack", "", nil)
		l.send("ka", "", nil)
		l.keepAliveLoop()
	case lAckAgain:
		l.send("connection_ack", "", nil)
	case lRun:
		l.ops.stop(id)
		l.start(id, req)
	case lNotReady:
		l.sendErrors(id, []*qerrors.QueryError{{Message: "start before connection_init"}})
	case lStopOp:
		if l.ops.stop(id) {
			l.send("complete", id, nil)
		}
	case lCloseConn:
		l.close(st.code, st.reason)
	}
}

// keepAliveLoop sends ka every keep-alive interval on a goroutine of its
// own, which ends with the session.
func (l *legacySession) keepAliveLoop() {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		t := time.NewTicker(l.keepAlive)
		defer t.Stop()
		for {
			select {
			case <-l.ctx.Done():
				return
			case <-t.C:
				l.send("ka", "", nil)
			}
		}
	}()
}

// legacyRouter dispatches a legacy client's messages by type to the
// connection's session.
func legacyRouter() *message.Router {
	r := &message.Router{}
	r.HandleFunc("connection_init", func(ctx context.Context, _ *message.Request) (any, error) {
		sessionFrom[*legacySession](ctx).on(lInit, "", nil)
		return nil, nil
	})
	r.HandleFunc("start", func(ctx context.Context, m *message.Request) (any, error) {
		l := sessionFrom[*legacySession](ctx)
		var req request
		if err := json.Unmarshal(m.Params, &req); err != nil { // checked by the codec
			l.sendErrors(m.ID, []*qerrors.QueryError{{Message: "invalid start message: " + err.Error()}})
			return nil, nil
		}
		l.on(lStart, m.ID, &req)
		return nil, nil
	})
	r.HandleFunc("stop", func(ctx context.Context, m *message.Request) (any, error) {
		sessionFrom[*legacySession](ctx).on(lStop, m.ID, nil)
		return nil, nil
	})
	r.HandleFunc("connection_terminate", func(ctx context.Context, _ *message.Request) (any, error) {
		sessionFrom[*legacySession](ctx).on(lTerminate, "", nil)
		return nil, nil
	})
	return r
}

// legacyErrors is the payload of the legacy protocol's error: one error
// object, as the protocol has it, the first of the GraphQL errors.
func legacyErrors(errs []*qerrors.QueryError) json.RawMessage {
	b, _ := json.Marshal(errs[0])
	return b
}

// serveLegacy is the legacy graphql-ws handler.
func (s *server) serveLegacy(router *message.Router) service.Handler {
	return service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		l := &legacySession{state: awaitingInit, keepAlive: s.keepAlive}
		l.exec, l.frame = s.exec, framing{result: "data", errors: legacyErrors}
		return l.serve(ctx, c, legacyCodec{}, router, l, s.initTimeout, func() { l.on(lInitTimeout, "", nil) })
	})
}
