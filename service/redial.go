package service

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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

	closing chan struct{} // closed by Close
	done    chan struct{} // closed when stopped

	mu      sync.Mutex
	cur     *Conn         // the connection up, or nil
	changed chan struct{} // closed and replaced when cur, reading or the state changes
	state   RedialState
	err     error // why it stopped
	buf     []pending

	// Recv's side: it reads one connection to its end, then the next.
	reader  bool  // Recv has been called
	reading *Conn // the connection Recv reads until it has returned its end, or nil
	ended   *Conn // the last connection whose end Recv returned

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
	var prev *Conn // the last connection that was up
	for {
		attempt++
		r.setState(RedialEvent{State: RedialConnecting, Attempt: attempt, Err: last})
		c, err := r.connect(ctx)
		if err == nil {
			attempt = 0
			prev = c
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
		if r.opts.BeforeDial != nil {
			if why := r.waitRead(ctx, prev); why != nil {
				r.stop(why)
				return
			}
		}
	}
}

// waitRead waits until Recv is done with c, the last connection that was
// up: it has returned the end of c, or is not reading it. It returns why
// the Redialer must stop instead, if it must.
func (r *Redialer) waitRead(ctx context.Context, c *Conn) error {
	for {
		r.mu.Lock()
		reading, changed := r.reading, r.changed
		r.mu.Unlock()
		if c == nil || reading != c {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-r.closing:
			return ErrClosed
		}
	}
}

// unusableURL is a URL from BeforeDial that Dial cannot use: it stops
// the Redialer, as Redial's own URL would.
type unusableURL struct{ err error }

func (e *unusableURL) Error() string { return e.err.Error() }
func (e *unusableURL) Unwrap() error { return e.err }

// target returns the URL and the options of the next attempt to dial:
// Redial's, or what BeforeDial makes of them.
func (r *Redialer) target(ctx context.Context) (string, *DialOptions, error) {
	if r.opts.BeforeDial == nil {
		return r.url, r.opts.Dial, nil
	}
	var d DialOptions
	if r.opts.Dial != nil {
		d = *r.opts.Dial
	}
	u, err := url.Parse(r.url) // checked by run: it parses
	if err != nil {
		return "", nil, &unusableURL{err}
	}
	h := d.Header.Clone()
	if h == nil {
		h = make(http.Header)
	}
	if err := r.opts.BeforeDial(ctx, u, h); err != nil {
		return "", nil, fmt.Errorf("service: redial: BeforeDial: %w", err)
	}
	d.Header = h
	rawURL := u.String()
	if _, _, err := checkDial(rawURL, &d); err != nil {
		return "", nil, &unusableURL{fmt.Errorf("service: redial: BeforeDial: %w", err)}
	}
	return rawURL, &d, nil
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
	rawURL, dial, err := r.target(dctx)
	if err != nil {
		return nil, err
	}
	c, _, err := Dial(dctx, rawURL, dial)
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
			if r.reader && r.reading == nil {
				r.reading = c // read it to its end, even if it ends before Recv is called again
			}
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
	if bad := (*unusableURL)(nil); errors.As(err, &bad) {
		return bad.err
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

// changedLocked wakes whoever waits for a change of cur, reading or the
// state.
func (r *Redialer) changedLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *Redialer) setState(e RedialEvent) {
	r.mu.Lock()
	r.state = e.State
	r.changedLocked()
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
// Redialer had stopped already. The hooks (BeforeDial, OnConnect,
// OnState) run on the goroutine Close waits for: one that stops the
// Redialer calls go r.Close(), then returns.
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
		if r.reading == nil && r.cur != r.ended {
			r.reading = r.cur
		}
		c, changed, stopped := r.reading, r.changed, r.err
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
