package main

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

	qerrors "github.com/graph-gophers/graphql-go/errors"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// The closes of graphql-transport-ws, beside closeBadRequest.
const (
	closeUnauthorized       protocol.CloseCode = 4401
	closeInitTimeout        protocol.CloseCode = 4408
	closeSubscriberExists   protocol.CloseCode = 4409
	closeTooManyInitRequest protocol.CloseCode = 4429
)

// transportEvent is what moves a graphql-transport-ws connection's state
// machine.
type transportEvent uint8

// The events of graphql-transport-ws.
const (
	tInit           transportEvent = iota + 1 // connection_init
	tSubscribe                                // subscribe with an ID no active operation holds
	tSubscribeTaken                           // subscribe with the ID of an active operation
	tComplete                                 // complete
	tInitTimeout                              // the init timeout passed
)

var transportEventNames = [...]string{"", "connection_init", "subscribe", "subscribe (ID taken)", "complete", "init timeout"}

func (e transportEvent) String() string { return transportEventNames[e] }

// transportAction is what a transition does.
type transportAction uint8

// The actions of graphql-transport-ws.
const (
	tNone  transportAction = iota // nothing: the message is ignored
	tAck                          // send connection_ack
	tStart                        // start the operation
	tStop                         // stop the operation, if it is active, and send nothing more for it
	tClose                        // close the connection with the transition's code and reason
)

// transportStep is a transition: the next state and the action.
type transportStep struct {
	next   connState
	action transportAction
	code   protocol.CloseCode // for tClose
	reason string             // for tClose; "<id>" stands for the operation's ID
}

type transportKey struct {
	state connState
	event transportEvent
}

// transportTable is graphql-transport-ws's state machine, as PROTOCOL.md
// describes it. ping and pong are answered (ping) and ignored (pong) in
// every state, and move nothing.
var transportTable = map[transportKey]transportStep{
	{awaitingInit, tInit}:           {next: acknowledged, action: tAck},
	{awaitingInit, tSubscribe}:      {next: closing, action: tClose, code: closeUnauthorized, reason: "Unauthorized"},
	{awaitingInit, tSubscribeTaken}: {next: closing, action: tClose, code: closeUnauthorized, reason: "Unauthorized"},
	{awaitingInit, tComplete}:       {next: awaitingInit}, // an unknown ID
	{awaitingInit, tInitTimeout}:    {next: closing, action: tClose, code: closeInitTimeout, reason: "Connection initialisation timeout"},

	{acknowledged, tInit}:           {next: closing, action: tClose, code: closeTooManyInitRequest, reason: "Too many initialisation requests"},
	{acknowledged, tSubscribe}:      {next: acknowledged, action: tStart},
	{acknowledged, tSubscribeTaken}: {next: closing, action: tClose, code: closeSubscriberExists, reason: "Subscriber for <id> already exists"},
	{acknowledged, tComplete}:       {next: acknowledged, action: tStop},
	{acknowledged, tInitTimeout}:    {next: acknowledged},

	{closing, tInit}:           {next: closing},
	{closing, tSubscribe}:      {next: closing},
	{closing, tSubscribeTaken}: {next: closing},
	{closing, tComplete}:       {next: closing},
	{closing, tInitTimeout}:    {next: closing},
}

// transportSession is a graphql-transport-ws connection.
type transportSession struct {
	session
	mu    sync.Mutex
	state connState
}

// step moves the state machine by ev and returns the transition, whose
// action the caller then does, outside the lock.
func (t *transportSession) step(ev transportEvent) transportStep {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := transportTable[transportKey{t.state, ev}]
	if !ok {
		st = transportStep{next: t.state}
	}
	t.state = st.next
	return st
}

// on handles ev, for operation id (with its request, for a subscribe).
func (t *transportSession) on(ev transportEvent, id string, req *request) {
	st := t.step(ev)
	switch st.action {
	case tAck:
		t.send("connection_ack", "", nil)
	case tStart:
		t.start(id, req)
	case tStop:
		t.ops.stop(id)
	case tClose:
		t.close(st.code, strings.ReplaceAll(st.reason, "<id>", id))
	}
}

// transportRouter dispatches a graphql-transport-ws client's messages
// by type to the connection's session.
func transportRouter() *message.Router {
	r := &message.Router{}
	r.HandleFunc("connection_init", func(ctx context.Context, _ *message.Request) (any, error) {
		sessionFrom[*transportSession](ctx).on(tInit, "", nil)
		return nil, nil
	})
	r.HandleFunc("subscribe", func(ctx context.Context, m *message.Request) (any, error) {
		t := sessionFrom[*transportSession](ctx)
		if t.ops.has(m.ID) {
			t.on(tSubscribeTaken, m.ID, nil)
			return nil, nil
		}
		var req request
		if err := json.Unmarshal(m.Params, &req); err != nil { // checked by the codec
			t.close(closeBadRequest, "invalid subscribe message: "+err.Error())
			return nil, nil
		}
		t.on(tSubscribe, m.ID, &req)
		return nil, nil
	})
	r.HandleFunc("complete", func(ctx context.Context, m *message.Request) (any, error) {
		sessionFrom[*transportSession](ctx).on(tComplete, m.ID, nil)
		return nil, nil
	})
	// ping is a call: its result, the ping's payload, is the pong's.
	r.HandleFunc("ping", func(_ context.Context, m *message.Request) (any, error) {
		return m.Params, nil
	})
	r.HandleFunc("pong", func(context.Context, *message.Request) (any, error) {
		return nil, nil
	})
	return r
}

// transportErrors is the payload of graphql-transport-ws's error: the
// array of GraphQL errors.
func transportErrors(errs []*qerrors.QueryError) json.RawMessage {
	b, _ := json.Marshal(errs)
	return b
}

// serveTransport is the graphql-transport-ws handler.
func (s *server) serveTransport(router *message.Router) service.Handler {
	return service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		t := &transportSession{state: awaitingInit}
		t.exec, t.frame = s.exec, framing{result: "next", errors: transportErrors}
		return t.serve(ctx, c, transportCodec{}, router, t, s.initTimeout, func() { t.on(tInitTimeout, "", nil) })
	})
}
