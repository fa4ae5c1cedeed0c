package service

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/wsmap/wsmap/protocol"
)

// reader is the connection's reader role: which goroutine reads from
// gorilla (whose reader is not safe for concurrent use), what becomes of
// the messages read, and the socket's read deadline. Its methods are the
// only code that changes its fields, all under mu.
//
// A receive with the connection's own context, or one that cannot be
// cancelled, reads directly on the caller's goroutine: such a read can only
// end with a message or with the connection's end. Otherwise the read
// loop, a goroutine of the connection's own, reads: it reads ahead into a
// bounded queue, so that control frames are handled whatever the
// application does, and stops reading while the queue is full (TCP
// backpressure).
//
// States, the events that move them and what each transition does:
//
//	state      event                                  next       action
//	unstarted  start                                  idle       arm the turn timer
//	idle       receive, queue empty, direct           direct     the receiver reads on its goroutine
//	idle       receive, queue empty, interruptible    loop       start the read loop
//	idle       turn timer (nobody read for a turn)    loop       start the read loop
//	idle       closing, or CloseRead                  loop       start the read loop (it reads the peer's close)
//	idle       connection finished                    ended      wake the receiver
//	direct     message read                           idle       arm the turn timer
//	direct     message read while closing             loop       start the read loop
//	loop       message read, queue not full           loop       queue it, wake the receiver
//	loop       message read, a direct receiver waits  idle       queue it, wake the receiver, arm the turn timer; the loop returns
//	loop       message read, queue now full           full       queue it, lift the pong deadline, arm the stall timer
//	loop       message starts, a Reader waits         stream     hand the stream to the Reader
//	loop       data message after CloseRead           ended      fail the connection with 1008
//	full       receive takes a message                loop       the loop reads on
//	full       stall timer (nothing taken in time)    ended      fail the connection with 1008
//	stream     stream finished or released            loop       the loop reads on
//	stream     stall timer (stream not read in time)  ended      fail the connection with 1008
//	any        read error or the peer's close frame   ended      end the connection; wake the receiver
//
// A receive finds a queued message (or a stream handed out for a Reader
// call that was abandoned) first, in any state. While closing, the loop
// reads only to find the peer's close frame: data messages are discarded.
//
// The read deadline is the close deadline once closing; before that it is
// the pong deadline while a keepalive pong is awaited and somebody reads
// (direct, loop, stream), and none otherwise.
type reader struct {
	c *Conn

	mu    sync.Mutex
	state readerState
	err   *CloseError // why reading ended, once ended

	queue      []queued // messages read ahead, oldest first, from head
	head       int
	queuedLen  int64 // payload bytes in the queue
	stream     *messageReader
	wantsDir   bool // a direct receiver waits: the loop gives the role up after one message
	wantsStr   bool // a Reader waits: the loop hands it the next message's stream
	notify     chan struct{}
	space      chan struct{}
	noRead     bool // CloseRead was called
	closing    bool // the connection is closing: only the peer's close is read
	finished   bool // the connection is closed
	pongDue    bool // a keepalive pong is awaited
	reading    bool // the deadline's view: somebody reads from the socket
	deadline   time.Time
	turnArmed  bool
	turnAt     time.Duration // when the role was last given up, since born
	stallFrom  time.Duration // when the queue filled or the stream was last read
	stallSet   bool
	streamBusy bool // the stream's consumer is inside a read
	born       time.Time
	turn       *time.Timer
	stall      *time.Timer
	directMR   messageReader // the direct receiver's, reused
}

// readerState is a state of the reader role; see reader.
type readerState uint8

const (
	readerUnstarted readerState = iota
	readerIdle
	readerDirect
	readerLoop
	readerFull
	readerStream
	readerEnded
)

var readerStateNames = [...]string{"unstarted", "idle", "direct", "loop", "full", "stream", "ended"}

func (s readerState) String() string {
	if int(s) < len(readerStateNames) {
		return readerStateNames[s]
	}
	return fmt.Sprintf("readerState(%d)", s)
}

// queued is a message read ahead.
type queued struct {
	typ  protocol.MessageType
	data []byte
}

// turnDelay is how long a received message's turn lasts: when nobody
// reads for this long after a direct receive, the read loop starts.
const turnDelay = 500 * time.Millisecond

// ErrReadClosed is returned by Recv and Reader on a connection whose
// application declared with CloseRead that it does not read.
var ErrReadClosed = errors.New("service: reading closed by CloseRead")

func (r *reader) init(c *Conn) { r.c = c }

// noReadClose is the close of a connection whose application declared
// with CloseRead that it does not read, when a data message arrives.
func noReadClose() *CloseError {
	return &CloseError{Code: protocol.ClosePolicyViolation, Reason: "this endpoint does not read messages"}
}

// wake signals a channel of capacity one without blocking.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// start moves unstarted to idle.
func (r *reader) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.born = time.Now()
	if r.state == readerUnstarted {
		r.toIdleLocked()
	}
}

// toIdleLocked gives the role up and arms the turn timer. The timer is
// armed once and, when it fires early, re-arms itself for the rest of the
// turn, so that a direct receive costs no timer reset.
func (r *reader) toIdleLocked() {
	if r.closing || r.noRead {
		r.startLoopLocked()
		return
	}
	if r.finished {
		r.endLocked(r.c.outcome(nil))
		return
	}
	r.state = readerIdle
	r.setReadingLocked(false)
	r.turnAt = time.Since(r.born)
	if r.turnArmed {
		return
	}
	r.turnArmed = true
	if r.turn == nil {
		r.turn = time.AfterFunc(turnDelay, r.onTurn)
	} else {
		r.turn.Reset(turnDelay)
	}
}

func (r *reader) onTurn() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.turnArmed = false
	if r.state != readerIdle {
		return
	}
	if idle := time.Since(r.born) - r.turnAt; idle < turnDelay {
		r.turnArmed = true
		r.turn.Reset(turnDelay - idle)
		return
	}
	r.startLoopLocked()
}

// startLoopLocked starts the read loop. The channels between it and the
// receivers are made then: a connection that only reads directly does
// without them.
func (r *reader) startLoopLocked() {
	if r.notify == nil {
		r.notify = make(chan struct{}, 1)
		r.space = make(chan struct{}, 1)
	}
	r.state = readerLoop
	r.setReadingLocked(true)
	go r.loop()
}

// endLocked moves to ended with err and wakes the receiver.
func (r *reader) endLocked(err *CloseError) {
	r.state = readerEnded
	if r.err == nil {
		r.err = err
	}
	if r.err == nil {
		r.err = &CloseError{Code: protocol.CloseAbnormal, Err: net.ErrClosed}
	}
	r.setReadingLocked(false)
	r.stopStallLocked()
	wake(r.notify)
}

// setReadingLocked records whether somebody reads from the socket and
// sets the read deadline that follows (see reader).
func (r *reader) setReadingLocked(reading bool) {
	r.reading = reading
	if r.closing {
		return
	}
	var d time.Time
	if reading && r.pongDue {
		d = time.Now().Add(r.c.opts.PongTimeout)
	}
	if d.IsZero() && r.deadline.IsZero() {
		return
	}
	r.deadline = d
	_ = r.c.netConn.SetReadDeadline(d)
}

// pingSent records that a keepalive ping went out; the peer has
// PongTimeout to answer it while somebody reads.
func (r *reader) pingSent() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pongDue {
		return
	}
	r.pongDue = true
	r.setReadingLocked(r.reading)
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
	case r.closing:
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

// pongReceived lifts the pong deadline.
func (r *reader) pongReceived() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.pongDue {
		return
	}
	r.pongDue = false
	r.setReadingLocked(r.reading)
}

// startClosing makes reading wait only for the peer's close frame, until
// deadline. Somebody must read for it.
func (r *reader) startClosing(deadline time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return
	}
	r.closing = true
	r.deadline = deadline
	_ = r.c.netConn.SetReadDeadline(deadline)
	r.stopStallLocked()
	switch r.state {
	case readerIdle:
		r.startLoopLocked()
	case readerFull:
		wake(r.space)
	}
}

// connFinished records that the connection is closed. A reading goroutine
// ends by itself on the closed socket; with none, reading ends here.
func (r *reader) connFinished(outcome *CloseError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finished = true
	if r.turn != nil {
		r.turn.Stop()
	}
	r.stopStallLocked()
	switch r.state {
	case readerUnstarted, readerIdle:
		r.endLocked(outcome)
	case readerFull:
		wake(r.space)
	}
}

// closeRead marks the connection as not read by the application.
// Messages already queued break that promise as a new one would.
func (r *reader) closeRead() (violation bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.noRead {
		return false
	}
	r.noRead = true
	if r.head < len(r.queue) || r.stream != nil {
		return true
	}
	if r.state == readerIdle {
		r.startLoopLocked()
	}
	return false
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

func (r *reader) armStallLocked() {
	r.stallFrom = time.Since(r.born)
	if r.stallSet {
		return
	}
	r.stallSet = true
	if r.stall == nil {
		r.stall = time.AfterFunc(r.stallLimit(), r.onStall)
	} else {
		r.stall.Reset(r.stallLimit())
	}
}

func (r *reader) stopStallLocked() {
	if r.stallSet {
		r.stallSet = false
		r.stall.Stop()
	}
}

// touchLocked records that the application took something, which moves
// the stall timer's start.
func (r *reader) touchLocked() {
	if r.stallSet {
		r.stallFrom = time.Since(r.born)
	}
}

func (r *reader) onStall() {
	r.mu.Lock()
	if !r.stallSet || (r.state != readerFull && r.state != readerStream) {
		r.mu.Unlock()
		return
	}
	limit := r.stallLimit()
	if r.state == readerStream && r.streamBusy {
		r.stallFrom = time.Since(r.born)
	}
	if waited := time.Since(r.born) - r.stallFrom; waited < limit {
		r.stall.Reset(limit - waited)
		r.mu.Unlock()
		return
	}
	r.stallSet = false
	var reason string
	if r.state == readerFull {
		reason = fmt.Sprintf("%d received messages were not read within %v", len(r.queue)-r.head, limit)
	} else {
		reason = fmt.Sprintf("a received message was not read within %v", limit)
	}
	r.mu.Unlock()
	r.c.fail(&CloseError{Code: protocol.ClosePolicyViolation, Reason: reason})
}

// popLocked takes the oldest queued message.
func (r *reader) popLocked() queued {
	q := r.queue[r.head]
	r.queue[r.head] = queued{}
	r.head++
	r.queuedLen -= int64(len(q.data))
	if r.head == len(r.queue) {
		r.queue, r.head = r.queue[:0], 0
	}
	if r.state == readerFull {
		r.state = readerLoop
		r.stopStallLocked()
		r.setReadingLocked(true)
		wake(r.space)
	}
	return q
}

// fullLocked reports whether the queue holds as much as it may.
func (r *reader) fullLocked() bool {
	limit := r.c.opts.ReadLimit
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	return len(r.queue)-r.head >= r.c.opts.RecvQueue || r.queuedLen >= limit
}

// take is how a receiver that holds readSem gets the next message. It
// returns a queued message, or a stream, or takes the role to read
// directly (direct), or registers its wish with the loop and returns
// wait, the channel that says when to try again.
func (r *reader) take(direct, stream bool) (q queued, s *messageReader, readDirect bool, wait <-chan struct{}, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.noRead {
		return q, nil, false, nil, ErrReadClosed
	}
	if r.head < len(r.queue) {
		r.wantsDir, r.wantsStr = false, false
		r.touchLocked()
		return r.popLocked(), nil, false, nil, nil
	}
	if r.stream != nil {
		r.wantsDir, r.wantsStr = false, false
		s, r.stream = r.stream, nil
		return q, s, false, nil, nil
	}
	switch r.state {
	case readerEnded:
		return q, nil, false, nil, r.err
	case readerIdle:
		if direct && !stream && !r.closing {
			r.state = readerDirect
			r.setReadingLocked(true)
			return q, nil, true, nil, nil
		}
		r.startLoopLocked()
	}
	r.wantsDir = direct && !stream
	r.wantsStr = stream
	return q, nil, false, r.notify, nil
}

// abandon withdraws a waiting receiver's wish.
func (r *reader) abandon() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wantsDir, r.wantsStr = false, false
}

// directDone ends a direct read: the role is given up (see reader).
func (r *reader) directDone() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == readerDirect {
		r.toIdleLocked()
	}
}

// ended ends reading with err, from the goroutine that read.
func (r *reader) ended(err *CloseError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endLocked(err)
}

// A messageStart says what the loop does with a message that begins.
type messageStart uint8

const (
	readWhole  messageStart = iota // read it whole, then queueMessage
	discard                        // closing: drop it
	refuseData                     // CloseRead was called: fail with 1008
	handStream                     // the stream was handed to a Reader: waitStream
)

// messageStarts decides, for the loop, what becomes of a message that
// begins; for a Reader waiting, it hands over mr as its stream.
func (r *reader) messageStarts(mr *messageReader) messageStart {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closing:
		return discard
	case r.noRead:
		return refuseData
	case r.wantsStr:
		r.wantsStr = false
		mr.done = make(chan struct{})
		r.stream = mr
		r.state = readerStream
		r.armStallLocked()
		wake(r.notify)
		return handStream
	}
	return readWhole
}

// queueMessage queues a message the loop read whole. It reports whether
// the loop goes on (false: the role went to a direct receiver) and
// whether the queue is now full, for waitSpace.
func (r *reader) queueMessage(typ protocol.MessageType, data []byte) (goOn, full bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing || r.finished {
		return true, false
	}
	r.queue = append(r.queue, queued{typ: typ, data: data})
	r.queuedLen += int64(len(data))
	wake(r.notify)
	if r.wantsDir {
		r.wantsDir = false
		r.toIdleLocked()
		return false, false
	}
	if !r.fullLocked() {
		return true, false
	}
	r.state = readerFull
	r.setReadingLocked(false)
	r.armStallLocked()
	return true, true
}

// spaceOrClosing reports, after a wake-up of a full loop, whether it may
// read on: a message was taken, or the connection is closing.
func (r *reader) spaceOrClosing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != readerFull {
		return true
	}
	if r.closing || r.finished {
		r.state = readerLoop
		r.setReadingLocked(true)
		return true
	}
	return false
}

// streamDone returns from stream to loop once the consumer is finished
// with mr.
func (r *reader) streamDone(mr *messageReader) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stream == mr { // never taken: the connection is closing
		r.stream = nil
	}
	if r.state == readerStream {
		r.state = readerLoop
		r.stopStallLocked()
		r.setReadingLocked(true)
	}
}

// streamRead records that the consumer of a stream begins (busy) or ends
// a read from it. While a read is under way it is the peer that is slow,
// which keepalive covers, so the stall timer does not count it.
func (r *reader) streamRead(busy bool) {
	r.mu.Lock()
	r.touchLocked()
	r.streamBusy = busy
	r.mu.Unlock()
}

// directWaiting reports whether a direct receiver waits for the loop to
// hand the role back, for tests.
func (r *reader) directWaiting() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.wantsDir
}

// snapshot returns the state, for tests.
func (r *reader) snapshot() (readerState, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state, len(r.queue) - r.head
}
