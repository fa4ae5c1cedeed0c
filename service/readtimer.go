package service

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/wsmap/wsmap/protocol"
)

// The reader role's timer, which delivers the turn's end and the stall
// limit, and the socket's read deadline, which follows the state and
// keepalive (see reader).

// epoch is the start of the clock the reader's timer keeps its times on.
var epoch = time.Now()

// clock reads the monotonic clock, as the time since epoch.
func clock() time.Duration { return time.Since(epoch) }

// setAlarm makes the timer deliver e in d. The timer is set again only
// if it would fire too late: a turn that starts again on every direct
// receive costs no timer reset.
func (r *reader) setAlarm(e readerEvent, d time.Duration) {
	r.alarm, r.due = e, clock()+d
	if r.timerOn && r.fireAt <= r.due {
		return
	}
	r.setTimer(d)
}

// setTimer makes the timer fire in d, making one if there is none.
func (r *reader) setTimer(d time.Duration) {
	r.timerOn, r.fireAt = true, clock()+d
	if r.timer == nil {
		r.timer = time.AfterFunc(d, r.onTimer)
	} else {
		r.timer.Reset(d)
	}
}

// dropTimer stops the timer and lets it go: a connection that waits with
// nothing due, or has ended, holds none.
func (r *reader) dropTimer() {
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	r.timerOn = false
}

// onTimer delivers the alarm that is due, or sets the timer for the rest.
func (r *reader) onTimer() {
	r.mu.Lock()
	r.timerOn = false
	if r.alarm == evNone {
		r.dropTimer()
		r.mu.Unlock()
		return
	}
	if now := clock(); now < r.due {
		r.setTimer(r.due - now)
		r.mu.Unlock()
		return
	}
	e := r.alarm
	r.alarm = evNone
	do := r.step(e, nil)
	if r.alarm == evNone {
		r.dropTimer()
	}
	state, held := r.state, len(r.queue)-r.head
	r.mu.Unlock()
	if do&aFailStall != 0 {
		r.c.fail(stallClose(state, held, r.stallLimit()))
	}
}

// stallClose is the close of a connection whose application left the
// queue full, or a stream unread, past the limit.
func stallClose(s readerState, held int, limit time.Duration) *CloseError {
	reason := fmt.Sprintf("a received message was not read within %v", limit)
	if s == rFull {
		reason = fmt.Sprintf("%d received messages were not read within %v", held, limit)
	}
	return &CloseError{Code: protocol.ClosePolicyViolation, Reason: reason}
}

// stallLimit is how long the application may leave the queue full, or a
// stream unread, before the connection is closed with 1008.
func (r *reader) stallLimit() time.Duration {
	ping := r.c.opts.PingInterval
	if ping <= 0 {
		ping = DefaultPingInterval
	}
	return ping + r.c.opts.PongTimeout
}

// setDeadlineLocked sets the pong deadline the state asks for (see
// reader).
func (r *reader) setDeadlineLocked() {
	var d time.Time
	if r.state.reads() && r.pongDue {
		d = time.Now().Add(r.c.opts.PongTimeout)
	}
	if d.IsZero() && !r.deadlineSet {
		return
	}
	r.deadlineSet = !d.IsZero()
	_ = r.c.guard.Conn.SetReadDeadline(d)
}

// pingSent records that a keepalive ping went out; the peer has
// PongTimeout to answer it while somebody reads.
func (r *reader) pingSent() { r.setPongDue(true) }

// pongReceived lifts the pong deadline.
func (r *reader) pongReceived() { r.setPongDue(false) }

func (r *reader) setPongDue(due bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pongDue == due {
		return
	}
	r.pongDue = due
	if !r.state.draining() {
		r.setDeadlineLocked()
	}
}

// deadlineCause returns what an expired read deadline stands for, when
// err is one: the peer's silence past PongTimeout after a keepalive ping,
// or past CloseTimeout after a close frame was sent. It returns nil for
// any other error.
func (r *reader) deadlineCause(err error) error {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.state.draining():
		return &silenceError{what: "no close frame", within: r.c.opts.CloseTimeout}
	case r.pongDue:
		return &silenceError{what: "no pong", within: r.c.opts.PongTimeout}
	}
	return nil
}

// silenceError is a peer's silence past a deadline: a read that timed
// out, told by what was awaited.
type silenceError struct {
	what   string
	within time.Duration
}

func (e *silenceError) Error() string { return e.what + " within " + e.within.String() }

// Timeout reports true: the error is a timeout, as the read's was.
func (e *silenceError) Timeout() bool { return true }

// Is matches os.ErrDeadlineExceeded, as the read's error did.
func (e *silenceError) Is(target error) bool { return target == os.ErrDeadlineExceeded }
