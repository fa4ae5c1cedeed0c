package service

import (
	"time"

	"github.com/wsmap/wsmap/protocol"
)

// The events the reader role is given (see reader), one method each for
// the code that gives them: the connection's life cycle, receives, the
// read loop and a stream's consumer. Each takes the role's lock and
// steps the machine.

// start gives the application its first turn to read.
func (r *reader) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.step(evStart, nil)
}

// startClosing makes reading wait only for the peer's close frame, until
// deadline; a zero deadline sets none, for a connection whose peer's
// close frame has come, after which nothing reads.
func (r *reader) startClosing(deadline time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state.draining() {
		return
	}
	if !deadline.IsZero() {
		r.deadlineSet = true
		_ = r.c.guard.Conn.SetReadDeadline(deadline)
	}
	r.step(evClosing, nil)
}

// connFinished records that the connection is closed, with outcome. A
// reading goroutine ends by itself on the closed socket; with none,
// reading ends here.
func (r *reader) connFinished(outcome *CloseError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.step(evFinished, outcome)
}

// closeRead marks the connection as not read by the application.
// Messages already held break that promise as a new one would: the
// connection is failed.
func (r *reader) closeRead() {
	r.mu.Lock()
	e := evCloseRead
	if r.head < len(r.queue) || r.pending != nil {
		e = evCloseReadHeld
	}
	do := r.step(e, nil)
	r.mu.Unlock()
	if do&aRefuse != 0 {
		r.c.fail(noReadClose())
	}
}

// take is how a receiver that holds readMu gets the next message: a
// queued message, or a stream handed out, or the answer to read
// directly (aReadDirect), to wait for the loop (aWait, and wait says on
// what), or to return an error.
func (r *reader) take(e readerEvent) (q queued, s *messageReader, do readerAction, wait <-chan struct{}, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.head < len(r.queue):
		e = evTake
	case r.pending != nil:
		e = evTakeStream
	}
	do = r.step(e, nil)
	if do&aPop != 0 {
		q = r.queue[r.head]
		r.queue[r.head] = queued{}
		r.head++
		r.queuedLen -= int64(len(q.data))
		if r.head == len(r.queue) {
			r.queue, r.head = r.queue[:0], 0
		}
	}
	if do&aTakePending != 0 {
		s, r.pending = r.pending, nil
	}
	switch {
	case do&aReadClosed != 0:
		err = ErrReadClosed
	case do&aEnded != 0:
		err = r.err
	}
	return q, s, do, r.notify, err
}

// abandon withdraws a waiting receiver.
func (r *reader) abandon() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.step(evAbandon, nil)
}

// directRead ends a direct read: the role is given up.
func (r *reader) directRead() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.step(evDirectRead, nil)
}

// ended ends reading with err, from the goroutine that read.
func (r *reader) ended(err *CloseError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.step(evReadEnded, err)
}

// messageStarts tells the loop what to do with a message that begins;
// for a Reader waiting, it hands mr out as its stream.
func (r *reader) messageStarts(mr *messageReader) readerAction {
	r.mu.Lock()
	defer r.mu.Unlock()
	do := r.step(evMessage, nil)
	if do&aHandStream != 0 {
		mr.done = make(chan struct{})
		r.pending = mr
	}
	return do
}

// whole gives the message the loop read whole, and tells the loop what
// next: aLoopExit, aLoopWait or aRefuse, or none to read on.
func (r *reader) whole(typ protocol.MessageType, data []byte) readerAction {
	r.mu.Lock()
	defer r.mu.Unlock()
	do := r.step(evWhole, nil)
	if do&aKeep == 0 {
		return do
	}
	r.queue = append(r.queue, queued{typ: typ, data: data})
	r.queuedLen += int64(len(data))
	limit := r.c.opts.ReadLimit
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	if len(r.queue)-r.head >= r.c.opts.RecvQueue || r.queuedLen >= limit {
		do |= r.step(evQueueFull, nil)
	}
	return do
}

// full reports whether the loop is still to wait for space.
func (r *reader) full() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state == rFull
}

// streamEvent delivers an event of the stream's consumer: a read begins
// or ends, or it is finished with the stream.
func (r *reader) streamEvent(e readerEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.step(e, nil)
}
