package message

import "context"

// CallInfo describes a call or notification as Options.OnCall sees it
// begin.
type CallInfo struct {
	// Peer is the connection it goes over.
	Peer *Peer
	// Outgoing is set for this side's Calls, clear for the peer's calls
	// and notifications.
	Outgoing bool
	// Kind is KindCall, or KindNotify for a notification of the peer.
	Kind Kind
	// Method and ID are the call's (ID "" for a notification that
	// carries none).
	Method string
	ID     string
}

// CallEnd says how a call or notification ended, as Options.OnCall's
// end function receives it.
type CallEnd struct {
	// Err is nil when it succeeded. For the peer's calls and
	// notifications it is the handler's error (a *service.PanicError
	// for a panic); for this side's calls, Call's error: the peer's
	// *Error, one wrapping ErrTimeout, ctx's error or the connection's
	// close.
	Err error
	// Answer is the error message that answered the call, sent or
	// received; nil for a result, and for a notification.
	Answer *Error
}

// onCall runs Options.OnCall, if set, and returns the context to go on
// with and the function that reports the end (nil when unset).
func (p *Peer) onCall(ctx context.Context, info CallInfo) (context.Context, func(CallEnd)) {
	if p.opts.OnCall == nil {
		return ctx, nil
	}
	info.Peer = p
	cctx, end := p.opts.OnCall(ctx, info)
	if cctx == nil {
		cctx = ctx
	}
	return cctx, end
}
