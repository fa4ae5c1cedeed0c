package service

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
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

// maxRetryAfter bounds the wait a server's Retry-After can ask for.
const maxRetryAfter = time.Hour

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

	closing chan struct{} // closed by Close
	done    chan struct{} // closed when stopped

	mu      sync.Mutex
	cur     *Conn         // the connection up, or nil
	changed chan struct{} // closed and replaced when cur or the state changes
	state   RedialState
	err     error // why it stopped
	buf     []pending

	closeCalled bool
}

type pending struct {
	typ  protocol.MessageType
	data []byte
}

// Redial starts a Redialer for rawURL and returns at once; it connects
// in the background. ctx bounds its whole life (each connection's
// Context carries ctx's values); Close ends it earlier.
func Redial(ctx context.Context, rawURL string, opts *RedialOptions) *Redialer {
	r := &Redialer{url: rawURL, closing: make(chan struct{}), done: make(chan struct{}), changed: make(chan struct{}), state: RedialConnecting}
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
	go r.run(ctx)
	return r
}

// run is the Redialer's goroutine: connect, serve, wait, again.
func (r *Redialer) run(ctx context.Context) {
	var dial DialOptions
	if r.opts.Dial != nil {
		dial = *r.opts.Dial
	}
	if _, _, err := checkDial(r.url, &dial); err != nil {
		r.stop(err) // no attempt can do better
		return
	}
	attempt := 0
	var last error
	for {
		attempt++
		r.setState(RedialEvent{State: RedialConnecting, Attempt: attempt, Err: last})
		c, err := r.connect(ctx)
		if err == nil {
			attempt = 0
			err = r.serve(ctx, c)
		}
		last = err
		if why := r.stopReason(ctx, err); why != nil {
			r.stop(why)
			return
		}
		if r.opts.MaxAttempts > 0 && attempt >= r.opts.MaxAttempts {
			r.stop(fmt.Errorf("service: redial: giving up after %d attempts: %w", attempt, err))
			return
		}
		delay := r.backoff(attempt, err)
		r.setState(RedialEvent{State: RedialWaiting, Attempt: max(attempt, 1), Err: err, Delay: delay})
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			r.stop(ctx.Err())
			return
		case <-r.closing:
			t.Stop()
			r.stop(ErrClosed)
			return
		}
	}
}

// connect dials, runs OnConnect and sends what was buffered.
func (r *Redialer) connect(ctx context.Context) (*Conn, error) {
	// Close interrupts the dial and OnConnect.
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-r.closing:
			cancel()
		case <-dctx.Done():
		}
	}()
	c, _, err := Dial(dctx, r.url, r.opts.Dial)
	if err != nil {
		return nil, err
	}
	if r.opts.OnConnect != nil {
		if err := r.opts.OnConnect(dctx, c); err != nil {
			c.CloseWithError(err)
			<-c.Done()
			return nil, fmt.Errorf("service: redial: OnConnect: %w", err)
		}
	}
	// What Send buffered goes first, in order; Sends meanwhile add to
	// the buffer, until the connection is made current.
	for {
		r.mu.Lock()
		buf := r.buf
		r.buf = nil
		if len(buf) == 0 {
			r.cur = c
			r.mu.Unlock()
			return c, nil
		}
		r.mu.Unlock()
		for i, p := range buf {
			if err := c.Send(dctx, p.typ, p.data); err != nil {
				r.mu.Lock()
				r.buf = append(buf[i:], r.buf...) // kept for the next connection
				r.mu.Unlock()
				c.CloseWithError(err)
				<-c.Done()
				return nil, err
			}
		}
	}
}

// serve waits for the connection to end and returns how it ended.
func (r *Redialer) serve(ctx context.Context, c *Conn) error {
	r.setState(RedialEvent{State: RedialConnected})
	select {
	case <-c.Done():
	case <-ctx.Done():
		_ = c.Close(protocol.CloseGoingAway, "")
		<-c.Done()
	case <-r.closing:
		_ = c.Close(protocol.CloseNormal, "")
		<-c.Done()
	}
	r.mu.Lock()
	r.cur = nil
	r.mu.Unlock()
	return c.Err()
}

// stopReason returns why the Redialer must stop after err ended a
// connection or an attempt, or nil to go on.
func (r *Redialer) stopReason(ctx context.Context, err error) error {
	select {
	case <-r.closing:
		return ErrClosed
	default:
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ce *CloseError
	if errors.As(err, &ce) {
		switch {
		case ce.Code == protocol.CloseNormal, ce.Code == protocol.ClosePolicyViolation, slices.Contains(r.opts.StopCodes, ce.Code):
			return fmt.Errorf("service: redial: the server closed with %d, which means not to come back: %w", ce.Code, err)
		}
		return nil
	}
	var he *HandshakeError
	if errors.As(err, &he) && (he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden) {
		return fmt.Errorf("service: redial: %w", err)
	}
	return nil
}

// backoff returns the wait before attempt+1.
func (r *Redialer) backoff(attempt int, err error) time.Duration {
	d := r.opts.MinBackoff
	for i := 1; i < attempt && d < r.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.opts.MaxBackoff)
	d = d/2 + rand.N(d/2+1)
	var he *HandshakeError
	if errors.As(err, &he) && (he.Status == http.StatusTooManyRequests || he.Status == http.StatusServiceUnavailable) {
		if ra, ok := retryAfter(he.Header.Get("Retry-After"), time.Now()); ok {
			d = max(d, min(ra, maxRetryAfter))
		}
	}
	return d
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

func (r *Redialer) setState(e RedialEvent) {
	r.mu.Lock()
	r.state = e.State
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	if r.opts.OnState != nil {
		r.opts.OnState(e)
	}
}

func (r *Redialer) stop(why error) {
	r.mu.Lock()
	r.err = why
	r.buf = nil
	r.mu.Unlock()
	r.setState(RedialEvent{State: RedialStopped, Err: why})
	close(r.done)
}

// State returns where the Redialer stands.
func (r *Redialer) State() RedialState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// Conn returns the connection that is up, or nil.
func (r *Redialer) Conn() *Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

// Done returns a channel that is closed once the Redialer has stopped.
func (r *Redialer) Done() <-chan struct{} { return r.done }

// Err returns nil until the Redialer stops, then why: ErrClosed after
// Close, ctx's error, or the ending that means not to come back.
func (r *Redialer) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Close stops the Redialer: the connection, if one is up, is closed with
// 1000, and Close waits until it is. It returns nil, or ErrClosed if the
// Redialer had stopped already.
func (r *Redialer) Close() error {
	r.mu.Lock()
	first, stopped := !r.closeCalled, r.err != nil
	r.closeCalled = true
	r.mu.Unlock()
	if first && !stopped {
		close(r.closing)
		<-r.done
		return nil
	}
	<-r.done
	return ErrClosed
}

// Send sends a message on the connection that is up. Without one, it
// holds the message for the next connection if RedialOptions.SendBuffer
// has room, and otherwise fails with ErrDisconnected. Once stopped, it
// returns Err.
func (r *Redialer) Send(ctx context.Context, typ protocol.MessageType, data []byte) error {
	r.mu.Lock()
	if r.err != nil {
		err := r.err
		r.mu.Unlock()
		return err
	}
	c := r.cur
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
// error, and the messages it received before it ended come first. It
// returns ctx's error if ctx ends first, and Err once the Redialer has
// stopped.
func (r *Redialer) Recv(ctx context.Context) (protocol.MessageType, []byte, error) {
	var dead *Conn
	for {
		r.mu.Lock()
		c, changed, stopped := r.cur, r.changed, r.err
		r.mu.Unlock()
		if c != nil && c != dead {
			typ, data, err := c.Recv(ctx)
			if err == nil {
				return typ, data, nil
			}
			if ctx.Err() != nil {
				return 0, nil, ctx.Err()
			}
			dead = c // its end: wait for the next one
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
