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
	"time"

	"github.com/wsmap/wsmap/protocol"
)

// run is the Redialer's goroutine: it performs the action of each
// transition of r.m and steps it with the event that ended the action,
// until stopped.
func (r *Redialer) run() {
	var (
		attempt int   // attempts since the last connection was up
		last    error // how the last attempt or connection ended
		prev    *Conn // the last connection that was up
	)
	var d DialOptions
	if r.opts.Dial != nil {
		d = *r.opts.Dial
	}
	in := redialInput{ev: evUsable}
	if _, _, err := checkDial(r.url, &d); err != nil {
		in = redialInput{ev: evFinal, err: err} // no attempt can do better
	}
	for {
		switch r.advance(in) {
		case actDial:
			attempt++
			r.report(RedialEvent{State: RedialConnecting, Attempt: attempt, Err: last})
			in = r.dial(attempt)
		case actFlush:
			in = r.flush(in.conn, attempt)
		case actServe:
			attempt, prev = 0, in.conn
			r.report(RedialEvent{State: RedialConnected})
			in = r.serve(prev)
		case actWait:
			last = in.err
			delay := r.backoff(attempt, last)
			r.report(RedialEvent{State: RedialWaiting, Attempt: max(attempt, 1), Err: last, Delay: delay})
			in = r.wait(delay, prev)
		case actDrain:
			in = r.drain(prev)
		case actCloseNormal:
			_ = prev.Close(protocol.CloseNormal, "")
			r.stopped(in.err)
			return
		case actGoingAway:
			_ = prev.Close(protocol.CloseGoingAway, "")
			r.stopped(in.err)
			return
		case actStop:
			r.stopped(in.err)
			return
		}
	}
}

// advance steps the machine on in, under the lock. Whether Send holds
// messages for a dialed connection is decided under that lock, so that
// no Send slips a message between the check and the step to connected.
func (r *Redialer) advance(in redialInput) redialAction {
	r.mu.Lock()
	defer r.mu.Unlock()
	if in.ev == evDialed && len(r.buf) > 0 {
		in.ev = evHeld
	}
	act := r.m.step(in)
	switch r.m.phase {
	case phaseConnected:
		if r.reader && r.reading == nil {
			r.reading = in.conn // read it to its end, even if it ends before Recv is called again
		}
	case phaseStopped:
		r.buf = nil
	}
	r.changedLocked()
	return act
}

// stopped reports the stop and closes Done.
func (r *Redialer) stopped(why error) {
	r.cancel(why) // releases life
	r.report(RedialEvent{State: RedialStopped, Err: why})
	close(r.done)
}

// report tells OnState of a change of state.
func (r *Redialer) report(e RedialEvent) {
	if r.opts.OnState != nil {
		r.opts.OnState(e)
	}
}

// ending returns the event with which an attempt, or a connection, ended
// with err: close or ctx done if the Redialer's life has ended, final if
// err means not to come back, exhausted after the last attempt allowed
// (attempt is 0 for a connection), failed otherwise.
func (r *Redialer) ending(err error, attempt int) redialInput {
	if r.life.Err() != nil {
		if context.Cause(r.life) == errCloseCalled {
			return redialInput{ev: evClose, err: ErrClosed}
		}
		return redialInput{ev: evCtxDone, err: r.life.Err()}
	}
	if why := r.stopReason(err); why != nil {
		return redialInput{ev: evFinal, err: why}
	}
	if r.opts.MaxAttempts > 0 && attempt >= r.opts.MaxAttempts {
		return redialInput{ev: evExhausted, err: fmt.Errorf("service: redial: giving up after %d attempts: %w", attempt, err)}
	}
	return redialInput{ev: evFailed, err: err}
}

// dial makes an attempt: BeforeDial, Dial, OnConnect. It returns dialed
// with the connection, or how the attempt ended, having closed what it
// dialed.
func (r *Redialer) dial(attempt int) redialInput {
	if r.life.Err() != nil {
		return r.ending(nil, attempt)
	}
	ctx, cancel := context.WithCancel(r.life)
	defer cancel()
	rawURL, dial, err := r.target(ctx)
	if err != nil {
		return r.ending(err, attempt)
	}
	c, _, err := Dial(ctx, rawURL, dial)
	if err != nil {
		return r.ending(err, attempt)
	}
	if r.opts.OnConnect != nil {
		if err := r.opts.OnConnect(ctx, c); err != nil {
			c.CloseWithError(err)
			<-c.Done()
			return r.ending(fmt.Errorf("service: redial: OnConnect: %w", err), attempt)
		}
	}
	return redialInput{ev: evDialed, conn: c}
}

// flush sends on c, in order, what Send held; Sends meanwhile add to what
// is held, until the step to connected finds nothing held. On an error,
// what was not sent is kept for the next connection.
func (r *Redialer) flush(c *Conn, attempt int) redialInput {
	r.mu.Lock()
	buf := r.buf
	r.buf = nil
	r.mu.Unlock()
	for i, p := range buf {
		if err := c.Send(r.life, p.typ, p.data); err != nil {
			r.mu.Lock()
			r.buf = append(buf[i:], r.buf...)
			r.mu.Unlock()
			c.CloseWithError(err)
			<-c.Done()
			return r.ending(err, attempt)
		}
	}
	return redialInput{ev: evDialed, conn: c}
}

// serve waits for c's end, or for the Redialer's.
func (r *Redialer) serve(c *Conn) redialInput {
	select {
	case <-c.Done():
	case <-r.life.Done():
	}
	return r.ending(c.Err(), 0)
}

// wait waits out the backoff, then tells whether Recv still reads prev,
// the last connection that was up, which BeforeDial waits for.
func (r *Redialer) wait(delay time.Duration, prev *Conn) redialInput {
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.life.Done():
		return r.ending(nil, 0)
	}
	r.mu.Lock()
	busy := r.opts.BeforeDial != nil && prev != nil && r.reading == prev
	r.mu.Unlock()
	if busy {
		return redialInput{ev: evRecvBusy}
	}
	return redialInput{ev: evWaited}
}

// drain waits until Recv is done with prev: it has returned the end of
// prev, or is not reading it.
func (r *Redialer) drain(prev *Conn) redialInput {
	for {
		r.mu.Lock()
		reading, changed := r.reading, r.changed
		r.mu.Unlock()
		if reading != prev {
			return redialInput{ev: evRecvDone}
		}
		select {
		case <-changed:
		case <-r.life.Done():
			return r.ending(nil, 0)
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

// stopReason returns why the Redialer must stop after err ended a
// connection or an attempt, or nil to go on.
func (r *Redialer) stopReason(err error) error {
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

// maxRetryAfter bounds the wait a server's Retry-After can ask for.
const maxRetryAfter = time.Hour

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
