package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/wsmap/wsmap/protocol"
)

// Defaults of RedialOptions.
const (
	DefaultMinBackoff = 250 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
)

// ErrDisconnected is returned by a Redialer's Send while it has no
// connection and its send buffer is full (or it has none).
var ErrDisconnected = errors.New("service: disconnected")

// RedialOptions configures Redial; nil means the defaults.
type RedialOptions struct {
	// Dial configures each dial.
	Dial *DialOptions

	// MinBackoff and MaxBackoff bound the wait before each attempt to
	// connect again: it starts at MinBackoff (default 250ms) and doubles
	// with each failed attempt, up to MaxBackoff (default 30s), and each
	// wait is drawn at random between half of it and all of it, so that
	// clients dropped together do not come back together. A refusal with
	// 429 or 503 and a Retry-After header waits at least that long (up to
	// an hour).
	MinBackoff, MaxBackoff time.Duration

	// MaxAttempts bounds the failed attempts in a row before the Redialer
	// gives up; 0 means no bound.
	MaxAttempts int

	// StopCodes are close codes that, from the server, mean "do not come
	// back", beside 1000 (normal closure) and 1008 (policy violation),
	// which always do: typically application codes (4000-4999) such as
	// "kicked" or "account closed".
	StopCodes []protocol.CloseCode

	// BeforeDial, if set, runs before each attempt to connect, the first
	// included, with a copy of Redial's URL and one of Dial.Header (never
	// nil), which it may change for that attempt: to put in the URL's
	// query the position of the last message the client received, so that
	// the server resumes it from there, or to send a fresh token. It runs
	// on the Redialer's goroutine; its ctx ends on Close, or with
	// Redial's. An error counts as a failed attempt; a URL Dial cannot
	// use (another scheme) stops the Redialer, as Redial's own would.
	//
	// Once Recv has been called, an attempt that follows a connection
	// waits (in RedialWaiting), before BeforeDial runs, until Recv has
	// returned every message that connection received and has been
	// called again: what the goroutine reading made of those messages
	// (the last position, say) is then complete, and happens before
	// BeforeDial runs, which can read it without a lock. A client that
	// reads with Recv must so go on calling it for the Redialer to come
	// back; one that never calls Recv is not waited for.
	BeforeDial func(ctx context.Context, u *url.URL, h http.Header) error

	// OnConnect runs on each new connection before anything else is sent
	// on it or received from it: to join rooms again, to tell the server
	// the last position the client saw. Its ctx ends when it returns, or
	// earlier on Close. An error closes the connection (as a handler's
	// would) and counts as a failed attempt.
	OnConnect func(ctx context.Context, c *Conn) error

	// OnState, if set, is told of every change of state, on the
	// Redialer's goroutine: it must not wait long.
	OnState func(RedialEvent)

	// SendBuffer is how many messages Send holds while there is no
	// connection, to send them, in order, once the next connection is up
	// (after OnConnect). 0 means none: Send fails with ErrDisconnected
	// then. A message Send handed to a connection that then dropped is
	// not sent again.
	SendBuffer int
}

// RedialState is where a Redialer stands.
type RedialState int

const (
	// RedialConnecting: dialing, or running OnConnect.
	RedialConnecting RedialState = iota + 1
	// RedialConnected: a connection is up.
	RedialConnected
	// RedialWaiting: waiting before the next attempt.
	RedialWaiting
	// RedialStopped: given up or closed; Err says why.
	RedialStopped
)

// String returns "connecting", "connected", "waiting" or "stopped".
func (s RedialState) String() string {
	switch s {
	case RedialConnecting:
		return "connecting"
	case RedialConnected:
		return "connected"
	case RedialWaiting:
		return "waiting"
	case RedialStopped:
		return "stopped"
	}
	return "RedialState(" + strconv.Itoa(int(s)) + ")"
}

// RedialEvent is a change of a Redialer's state.
type RedialEvent struct {
	State RedialState
	// Attempt counts the attempts to connect since the last connection
	// was up, from 1.
	Attempt int
	// Err is why the last connection or attempt ended (a *CloseError, a
	// *HandshakeError, a dial error), or, when stopped, why it stopped.
	Err error
	// Delay is, when waiting, how long until the next attempt.
	Delay time.Duration
}

// A Redialer is a client connection that comes back by itself: it dials
// a URL and, whenever the connection is lost, dials it again after a
// jittered, exponentially growing wait, until the server says not to come
// back (see RedialOptions.StopCodes), the handshake is refused with 401 or
// 403, MaxAttempts attempts in a row fail, its ctx ends or Close is
// called. Send and Recv work across connections. All its methods are safe
// for concurrent use.
type Redialer struct {
	url  string
	opts RedialOptions

	life   context.Context         // Redial's ctx, ended earlier by Close; every action runs under it
	cancel context.CancelCauseFunc // ends life; errCloseCalled from Close
	done   chan struct{}           // closed when stopped

	mu      sync.Mutex
	m       redialMachine
	changed chan struct{} // closed and replaced on each step, and when Recv is done with a connection
	buf     []pending     // what Send holds for the next connection

	// Recv's side: it reads one connection to its end, then the next.
	reader  bool  // Recv has been called
	reading *Conn // the connection Recv reads until it has returned its end, or nil
	ended   *Conn // the last connection whose end Recv returned
}

// errCloseCalled is the cause with which Close ends a Redialer's life.
var errCloseCalled = fmt.Errorf("service: redial: Close: %w", ErrClosed)

type pending struct {
	typ  protocol.MessageType
	data []byte
}

// Redial starts a Redialer for rawURL and returns at once; it connects
// in the background. ctx bounds its whole life (each connection's
// Context carries ctx's values); Close ends it earlier.
func Redial(ctx context.Context, rawURL string, opts *RedialOptions) *Redialer {
	r := &Redialer{url: rawURL, done: make(chan struct{}), changed: make(chan struct{})}
	if opts != nil {
		r.opts = *opts
	}
	if r.opts.MinBackoff <= 0 {
		r.opts.MinBackoff = DefaultMinBackoff
	}
	if r.opts.MaxBackoff <= 0 {
		r.opts.MaxBackoff = DefaultMaxBackoff
	}
	r.opts.MaxBackoff = max(r.opts.MaxBackoff, r.opts.MinBackoff)
	r.life, r.cancel = context.WithCancelCause(ctx)
	go r.run()
	return r
}

// changedLocked wakes whoever waits for a step of the machine or for
// Recv to be done with a connection.
func (r *Redialer) changedLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// State returns where the Redialer stands.
func (r *Redialer) State() RedialState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m.phase.public()
}

// Conn returns the connection that is up, or nil.
func (r *Redialer) Conn() *Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m.conn
}

// Done returns a channel that is closed once the Redialer has stopped.
func (r *Redialer) Done() <-chan struct{} { return r.done }

// Err returns nil until the Redialer stops, then why: ErrClosed after
// Close, ctx's error, or the ending that means not to come back.
func (r *Redialer) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m.why
}

// Close stops the Redialer: an attempt in progress is interrupted (the
// opening handshake included, and the ctx of BeforeDial and OnConnect
// ends), the connection, if one is up, is closed with 1000, and Close
// waits until it is. It returns nil, or ErrClosed if the Redialer had
// stopped already or was stopping (Close called before, its ctx ended).
// The hooks (BeforeDial, OnConnect, OnState) run on the
// goroutine Close waits for: one that stops the Redialer calls
// go r.Close(), then returns.
func (r *Redialer) Close() error {
	r.mu.Lock()
	stopping := r.m.phase == phaseStopped || r.life.Err() != nil
	r.cancel(errCloseCalled)
	r.mu.Unlock()
	<-r.done
	if stopping {
		return ErrClosed
	}
	return nil
}

// Send sends a message on the connection that is up. Without one, it
// holds the message for the next connection if RedialOptions.SendBuffer
// has room, and otherwise fails with ErrDisconnected. Once stopped, it
// returns Err.
func (r *Redialer) Send(ctx context.Context, typ protocol.MessageType, data []byte) error {
	r.mu.Lock()
	if r.m.phase == phaseStopped {
		err := r.m.why
		r.mu.Unlock()
		return err
	}
	c := r.m.conn
	if c == nil {
		defer r.mu.Unlock()
		if len(r.buf) < r.opts.SendBuffer {
			r.buf = append(r.buf, pending{typ: typ, data: slices.Clone(data)})
			return nil
		}
		return fmt.Errorf("service: redial: send: %w", ErrDisconnected)
	}
	r.mu.Unlock()
	return c.Send(ctx, typ, data)
}

// Recv waits for the next message, from whichever connection is up,
// waiting through reconnections: the end of one connection is not an
// error. Recv reads each connection to its end: the messages a
// connection received before it ended come before any of the next
// one's. (Without BeforeDial, a connection that came and went while
// Recv was still returning an earlier one's messages may go unread.)
// It returns ctx's error if ctx ends first, and Err once the Redialer
// has stopped and the messages received before are returned.
func (r *Redialer) Recv(ctx context.Context) (protocol.MessageType, []byte, error) {
	for {
		r.mu.Lock()
		r.reader = true
		if r.reading == nil && r.m.conn != r.ended {
			r.reading = r.m.conn
		}
		c, changed, stopped := r.reading, r.changed, r.m.why
		r.mu.Unlock()
		if c != nil {
			typ, data, err := c.Recv(ctx)
			if err == nil {
				return typ, data, nil
			}
			if ctx.Err() != nil {
				return 0, nil, ctx.Err()
			}
			// c's end: every message it received has been returned.
			r.mu.Lock()
			if r.reading == c {
				r.reading, r.ended = nil, c
				r.changedLocked()
			}
			r.mu.Unlock()
			continue
		}
		if stopped != nil {
			return 0, nil, stopped
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		}
	}
}
