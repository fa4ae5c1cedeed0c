package message

import (
	"context"
	"time"
)

// Default values of the Options fields.
const (
	DefaultMaxOutgoing = 16
	DefaultMaxIncoming = 16
	DefaultMaxQueued   = 64
	DefaultCallTimeout = 30 * time.Second
)

// Options configures a Peer. The zero value is ready to use: every zero
// field takes its default.
type Options struct {
	// MaxOutgoing bounds the calls this side has made and not had
	// answered: a Call beyond it waits its turn, in order, until an
	// earlier one is answered or times out, or its ctx ends. OCPP-J allows
	// one call in flight each way: set 1. Defaults to 16.
	MaxOutgoing int

	// MaxIncoming bounds the peer's calls and notifications handled at
	// once; the next ones wait their turn, in order of arrival, while
	// answers to this side's calls are still read. With 1 they are
	// handled one after another, as OCPP-J asks. Defaults to 16.
	MaxIncoming int

	// MaxQueued bounds the peer's calls and notifications waiting for
	// their turn: a call that arrives beyond it is answered at once with
	// the protocol's error for ErrBusy; a notification, which has no
	// answer, is dropped and reported to OnError with ErrBusy (a
	// protocol that must not lose one closes the connection there).
	// Defaults to 64.
	MaxQueued int

	// CallTimeout bounds how long Call waits for its answer, when its ctx
	// allows longer; Call then returns an error wrapping ErrTimeout, and
	// an answer that comes later is dropped. Defaults to 30s; a negative
	// value leaves the bound to ctx.
	CallTimeout time.Duration

	// OnError, if set, is called with what no caller sees: a handler's
	// failure (answered with the protocol's internal error), a message
	// the peer sent that could not be used (answered as the protocol
	// says, or not at all for a malformed answer), an answer to no call
	// in progress. It may be called from several goroutines at once.
	//
	// When OnError is nil, a handler's failure is logged through
	// slog.Default(), at level ERROR, as the service package logs a
	// connection handler's; the rest is dropped.
	OnError func(p *Peer, err error)

	// OnCall, if set, is called as each call begins, in either
	// direction, to trace or measure it: for the peer's calls and
	// notifications before their handler runs, with the handler's ctx;
	// for this side's Calls once they have their turn and their ID,
	// before they are sent, with Call's ctx. It returns the context to
	// go on with (the handler's, or the one the call is sent and waited
	// for under), derived from the one it was given, and a function
	// that is called once when the call ends (nil for none). Malformed
	// messages, answered without a handler, are not calls. It may be
	// called from several goroutines at once. Package otelwsmap
	// (middleware/otelwsmap) sets it to make a span of each call.
	OnCall func(ctx context.Context, call CallInfo) (context.Context, func(CallEnd))
}

// withDefaults returns a copy of o with every zero field set to its
// default. A nil o gives the defaults.
func (o *Options) withDefaults() Options {
	var d Options
	if o != nil {
		d = *o
	}
	if d.MaxOutgoing <= 0 {
		d.MaxOutgoing = DefaultMaxOutgoing
	}
	if d.MaxIncoming <= 0 {
		d.MaxIncoming = DefaultMaxIncoming
	}
	if d.MaxQueued <= 0 {
		d.MaxQueued = DefaultMaxQueued
	}
	if d.CallTimeout == 0 {
		d.CallTimeout = DefaultCallTimeout
	}
	return d
}
