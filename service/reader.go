package service

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/wsmap/wsmap/protocol"
)

// reader is the connection's reader role: which goroutine reads from
// gorilla (whose reader is not safe for concurrent use), what becomes of
// the messages read, and the socket's read deadline. It is a state
// machine: every change of state follows a row of readerRows, through
// step, under mu.
//
// A receive with the connection's own context, or one that cannot be
// cancelled, reads directly on the caller's goroutine: such a read can
// only end with a message or with the connection's end. Otherwise the
// read loop, a goroutine of the connection's own, reads: it reads ahead
// into a bounded queue, so that control frames are handled whatever the
// application does, and stops reading while the queue is full (TCP
// backpressure). When a direct receive has returned and no receive
// follows within a turn (turnDelay), the loop starts; a direct receive
// that comes while the loop reads takes the role back after the loop's
// next message.
//
// The read deadline follows the state: once draining, the close
// deadline, if this side began the closing handshake (after the peer's
// close frame nothing is read); before that, the pong deadline while a
// keepalive pong is awaited and somebody reads (see readerState.reads),
// none otherwise.
type reader struct {
	c *Conn

	mu    sync.Mutex
	state readerState
	alarm readerEvent // what the timer delivers when due; evNone when nothing is
	// pongDue: a keepalive pong is awaited. deadlineSet: a read deadline
	// is set on the socket. timerOn: the timer is set.
	pongDue, deadlineSet, timerOn bool
	err                           *CloseError // why reading ended, once ended

	queue     []queued       // messages read ahead, oldest first, from head
	head      int            // index of the oldest in queue
	queuedLen int64          // payload bytes in the queue
	pending   *messageReader // a stream the loop handed out that no receive has taken yet
	notify    chan struct{}  // wakes a receiver that waits for the loop
	space     chan struct{}  // wakes the loop that waits in full

	// One timer serves the turn and the stall limit, which are never due
	// at once. It delivers alarm when it fires at or after due; firing
	// earlier, it is set again for the rest. Times are on the monotonic
	// clock (see clock).
	timer  *time.Timer
	due    time.Duration
	fireAt time.Duration // when the timer fires, while set

	// Used only by the receiver that holds readMu.
	held     stream        // what the application reads from, released by the next receive
	directMR messageReader // the direct receiver's, reused
}

// readerState is a state of the reader role.
type readerState uint8

const (
	rUnstarted      readerState = iota // before the connection starts
	rIdle                              // nobody reads; the application's turn runs
	rDirect                            // a receiver reads on its own goroutine
	rLoop                              // the loop reads ahead
	rHandBack                          // the loop reads; a direct receiver waits for the next message and then the role
	rHandStream                        // the loop reads; a Reader waits for the next message's stream
	rFull                              // the loop waits for the application to take a queued message
	rStream                            // the loop waits while the application reads a stream it handed out
	rStreamRead                        // the same, the application inside a read of it
	rRefusing                          // CloseRead: the loop reads, a data message fails the connection
	rRefusingDirect                    // CloseRead while a receiver reads directly
	rDraining                          // closing: the loop reads for the peer's close, dropping data
	rDrainingDirect                    // closing while a receiver reads directly
	rEnded                             // reading is over; err says why
	numReaderStates
)

var readerStateNames = [...]string{"unstarted", "idle", "direct", "loop", "handBack", "handStream", "full", "stream", "streamRead", "refusing", "refusingDirect", "draining", "drainingDirect", "ended"}

func (s readerState) String() string {
	if int(s) < len(readerStateNames) {
		return readerStateNames[s]
	}
	return fmt.Sprintf("readerState(%d)", s)
}

// reads reports whether a goroutine reads from the socket in s, so that
// the pong deadline applies.
func (s readerState) reads() bool {
	switch s {
	case rDirect, rLoop, rHandBack, rHandStream, rStream, rStreamRead, rRefusing, rRefusingDirect:
		return true
	}
	return false
}

// draining reports whether s follows the close deadline.
func (s readerState) draining() bool { return s == rDraining || s == rDrainingDirect || s == rEnded }

// readerEvent is what happens to the reader role.
type readerEvent uint8

const (
	evNone          readerEvent = iota
	evStart                     // the connection starts
	evTake                      // a receive finds a queued message
	evTakeStream                // a receive finds a stream handed out for an abandoned Reader
	evRecvDirect                // a receive that may read on its goroutine finds nothing held
	evRecvWait                  // a receive that its ctx may interrupt finds nothing held
	evRecvStream                // a Reader finds nothing held
	evAbandon                   // a waiting receive gives up: its ctx ended
	evTurnOver                  // nobody received for a turn
	evStallOver                 // the queue stayed full, or a stream unread, past the stall limit
	evDirectRead                // the direct receiver has its message
	evMessage                   // the loop begins a message
	evWhole                     // the loop has read a message whole
	evQueueFull                 // the queue has reached its bound
	evStreamRead                // the stream's consumer begins a read
	evStreamPause               // the stream's consumer ends a read
	evStreamDone                // the stream's consumer is finished with it
	evCloseRead                 // CloseRead, nothing held
	evCloseReadHeld             // CloseRead with a message or stream held
	evClosing                   // the connection starts closing
	evFinished                  // the connection is closed
	evReadEnded                 // reading failed, or the peer's close frame came
	numReaderEvents
)

var readerEventNames = [...]string{"none", "start", "take", "takeStream", "recvDirect", "recvWait", "recvStream", "abandon", "turnOver", "stallOver", "directRead", "message", "whole", "queueFull", "streamRead", "streamPause", "streamDone", "closeRead", "closeReadHeld", "closing", "finished", "readEnded"}

func (e readerEvent) String() string {
	if int(e) < len(readerEventNames) {
		return readerEventNames[e]
	}
	return fmt.Sprintf("readerEvent(%d)", e)
}

// readerAction is what a transition does, as a set. The actions
// marked "for the caller" are answers to the goroutine that delivered the
// event; step does the others.
type readerAction uint32

const (
	aStartLoop    readerAction = 1 << iota // start the read loop
	aArmTurn                               // the turn starts: turnOver when nobody receives for turnDelay
	aArmStall                              // stallOver when nothing is taken within the stall limit
	aStopAlarm                             // nothing is due
	aWakeReceiver                          // wake the receiver waiting for the loop
	aWakeLoop                              // wake the loop waiting in full
	aPop                                   // take the oldest queued message
	aTakePending                           // take the stream handed out
	aKeep                                  // queue the message read whole
	aEnd                                   // record why reading ended
	aReadDirect                            // for the caller: read on your goroutine
	aWait                                  // for the caller: wait for the loop
	aReadClosed                            // for the caller: return ErrReadClosed
	aEnded                                 // for the caller: return the error that ended reading
	aReadWhole                             // for the loop: read the message whole
	aDiscard                               // for the loop: drop the message
	aHandStream                            // for the loop: hand the stream to the Reader and wait for it
	aLoopExit                              // for the loop: return, the role has gone to a direct receiver
	aLoopWait                              // for the loop: wait for space
	aRefuse                                // for the caller: fail the connection with 1008 (CloseRead)
	aFailStall                             // for the caller: fail the connection with 1008 (stalled)
)

// A readerRow is one transition: in state from, event on moves to to and
// does do.
type readerRow struct {
	from readerState
	on   readerEvent
	to   readerState
	do   readerAction
}

// readerRows is the reader role's transition table. A (state, event)
// pair it does not list changes nothing and does nothing: an event that
// comes late (a timer, a stream finished after the connection ended) or
// one that the state makes moot.
var readerRows = []readerRow{
	{rUnstarted, evStart, rIdle, aArmTurn},
	{rUnstarted, evCloseRead, rRefusing, aStartLoop},
	{rUnstarted, evClosing, rDraining, aStartLoop},
	{rUnstarted, evFinished, rEnded, aEnd | aWakeReceiver},

	{rIdle, evTake, rIdle, aPop},
	{rIdle, evRecvDirect, rDirect, aReadDirect},
	{rIdle, evRecvWait, rLoop, aStartLoop | aWait},
	{rIdle, evRecvStream, rHandStream, aStartLoop | aWait},
	{rIdle, evTurnOver, rLoop, aStartLoop},
	{rIdle, evCloseRead, rRefusing, aStartLoop},
	{rIdle, evCloseReadHeld, rRefusing, aStartLoop | aRefuse},
	{rIdle, evClosing, rDraining, aStartLoop},
	{rIdle, evFinished, rEnded, aEnd | aWakeReceiver},

	{rDirect, evDirectRead, rIdle, aArmTurn},
	{rDirect, evCloseRead, rRefusingDirect, 0},
	{rDirect, evClosing, rDrainingDirect, 0},
	{rDirect, evReadEnded, rEnded, aEnd | aWakeReceiver},

	{rLoop, evTake, rLoop, aPop},
	{rLoop, evRecvDirect, rHandBack, aWait},
	{rLoop, evRecvWait, rLoop, aWait},
	{rLoop, evRecvStream, rHandStream, aWait},
	{rLoop, evMessage, rLoop, aReadWhole},
	{rLoop, evWhole, rLoop, aKeep | aWakeReceiver},
	{rLoop, evQueueFull, rFull, aArmStall | aLoopWait},
	{rLoop, evCloseRead, rRefusing, 0},
	{rLoop, evCloseReadHeld, rRefusing, aRefuse},
	{rLoop, evClosing, rDraining, 0},
	{rLoop, evReadEnded, rEnded, aEnd | aWakeReceiver},

	{rHandBack, evMessage, rHandBack, aReadWhole},
	{rHandBack, evWhole, rIdle, aKeep | aWakeReceiver | aArmTurn | aLoopExit},
	{rHandBack, evAbandon, rLoop, 0},
	{rHandBack, evCloseRead, rRefusing, aWakeReceiver},
	{rHandBack, evClosing, rDraining, 0},
	{rHandBack, evReadEnded, rEnded, aEnd | aWakeReceiver},

	{rHandStream, evTake, rLoop, aPop}, // a message the loop had begun before the Reader came
	{rHandStream, evMessage, rStream, aHandStream | aArmStall | aWakeReceiver},
	{rHandStream, evWhole, rHandStream, aKeep | aWakeReceiver},
	{rHandStream, evQueueFull, rFull, aArmStall | aLoopWait},
	{rHandStream, evAbandon, rLoop, 0},
	{rHandStream, evCloseRead, rRefusing, aWakeReceiver},
	{rHandStream, evClosing, rDraining, 0},
	{rHandStream, evReadEnded, rEnded, aEnd | aWakeReceiver},

	{rFull, evTake, rLoop, aPop | aStopAlarm | aWakeLoop},
	{rFull, evStallOver, rFull, aFailStall},
	{rFull, evCloseReadHeld, rRefusing, aRefuse | aStopAlarm | aWakeLoop},
	{rFull, evClosing, rDraining, aStopAlarm | aWakeLoop},
	{rFull, evFinished, rDraining, aStopAlarm | aWakeLoop}, // the loop's next read fails

	{rStream, evTake, rStream, aPop}, // a message the loop read whole before it handed out the stream
	{rStream, evTakeStream, rStream, aTakePending},
	{rStream, evStreamRead, rStreamRead, 0},
	{rStream, evStreamDone, rLoop, aStopAlarm},
	{rStream, evStallOver, rStream, aFailStall},
	{rStream, evCloseRead, rRefusing, aRefuse | aStopAlarm}, // the stream out is a message unread
	{rStream, evCloseReadHeld, rRefusing, aRefuse | aStopAlarm},
	{rStream, evClosing, rDraining, aStopAlarm},

	{rStreamRead, evStreamPause, rStream, aArmStall}, // the stall limit counts from here
	{rStreamRead, evStreamDone, rLoop, aStopAlarm},
	{rStreamRead, evStallOver, rStreamRead, aArmStall}, // the peer is slow, which keepalive covers
	{rStreamRead, evCloseRead, rRefusing, aRefuse | aStopAlarm},
	{rStreamRead, evCloseReadHeld, rRefusing, aRefuse | aStopAlarm},
	{rStreamRead, evClosing, rDraining, aStopAlarm},

	{rRefusing, evTake, rRefusing, aReadClosed},
	{rRefusing, evTakeStream, rRefusing, aReadClosed},
	{rRefusing, evRecvDirect, rRefusing, aReadClosed},
	{rRefusing, evRecvWait, rRefusing, aReadClosed},
	{rRefusing, evRecvStream, rRefusing, aReadClosed},
	{rRefusing, evMessage, rRefusing, aRefuse},
	{rRefusing, evWhole, rRefusing, aRefuse}, // begun before CloseRead
	{rRefusing, evClosing, rDraining, 0},
	{rRefusing, evReadEnded, rEnded, aEnd | aWakeReceiver},

	{rRefusingDirect, evDirectRead, rRefusing, aStartLoop},
	{rRefusingDirect, evClosing, rDrainingDirect, 0},
	{rRefusingDirect, evReadEnded, rEnded, aEnd | aWakeReceiver},

	{rDraining, evTake, rDraining, aPop},
	{rDraining, evRecvDirect, rDraining, aWait},
	{rDraining, evRecvWait, rDraining, aWait},
	{rDraining, evRecvStream, rDraining, aWait},
	{rDraining, evMessage, rDraining, aDiscard},
	{rDraining, evReadEnded, rEnded, aEnd | aWakeReceiver},

	{rDrainingDirect, evDirectRead, rDraining, aStartLoop},
	{rDrainingDirect, evReadEnded, rEnded, aEnd | aWakeReceiver},

	{rEnded, evTake, rEnded, aPop},
	{rEnded, evRecvDirect, rEnded, aEnded},
	{rEnded, evRecvWait, rEnded, aEnded},
	{rEnded, evRecvStream, rEnded, aEnded},
}

// A readerTransition is a row as looked up in readerTable.
type readerTransition struct {
	to     readerState
	do     readerAction
	listed bool
}

// readerTable is readerRows indexed by state and event.
var readerTable = func() (t [numReaderStates][numReaderEvents]readerTransition) {
	for _, r := range readerRows {
		if t[r.from][r.on].listed {
			panic("service: reader table lists " + r.from.String() + " on " + r.on.String() + " twice")
		}
		t[r.from][r.on] = readerTransition{to: r.to, do: r.do, listed: true}
	}
	return t
}()

// transition looks up the row of state s and event e: its next state
// and actions. A pair the table does not list leaves s as it is.
func transition(s readerState, e readerEvent) (readerState, readerAction) {
	t := readerTable[s][e]
	if !t.listed {
		return s, 0
	}
	return t.to, t.do
}

// step moves the machine on e and does the actions that are the
// reader's own; it returns every action of the row, for the caller's
// part. cause is the error that ends reading, for aEnd.
func (r *reader) step(e readerEvent, cause *CloseError) readerAction {
	from := r.state
	to, do := transition(from, e)
	r.state = to
	if to != rStream && to != rStreamRead {
		r.pending = nil // a stream handed out is only taken in these states
	}
	if do&aEnd != 0 {
		if r.err == nil {
			r.err = cause
		}
		if r.err == nil {
			r.err = &CloseError{Code: protocol.CloseAbnormal, Err: net.ErrClosed}
		}
		r.alarm = evNone
		r.dropTimer()
	}
	if do&aStopAlarm != 0 {
		r.alarm = evNone
	}
	if do&aArmTurn != 0 {
		r.setAlarm(evTurnOver, turnDelay)
	}
	if do&aArmStall != 0 {
		r.setAlarm(evStallOver, r.stallLimit())
	}
	if do&aStartLoop != 0 {
		if r.notify == nil {
			// Made with the loop: a connection that only reads
			// directly does without them.
			r.notify = make(chan struct{}, 1)
			r.space = make(chan struct{}, 1)
		}
		go r.loop()
	}
	if do&aWakeReceiver != 0 {
		wake(r.notify)
	}
	if do&aWakeLoop != 0 {
		wake(r.space)
	}
	if from.reads() != to.reads() && !to.draining() {
		r.setDeadlineLocked()
	}
	return do
}

// ErrReadClosed is returned by Recv and Reader on a connection whose
// application declared with CloseRead that it does not read.
var ErrReadClosed = errors.New("service: reading closed by CloseRead")

// turnDelay is how long a received message's turn lasts: when nobody
// reads for this long after a direct receive, the read loop starts.
const turnDelay = 500 * time.Millisecond

// queued is a message read ahead.
type queued struct {
	typ  protocol.MessageType
	data []byte
}

func (r *reader) init(c *Conn) { r.c = c }

// wake signals a channel of capacity one without blocking.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// noReadClose is the close of a connection whose application declared
// with CloseRead that it does not read, when a data message arrives.
func noReadClose() *CloseError {
	return &CloseError{Code: protocol.ClosePolicyViolation, Reason: "this endpoint does not read messages"}
}

var readerActionNames = [...]string{"startLoop", "armTurn", "armStall", "stopAlarm", "wakeReceiver", "wakeLoop", "pop", "takePending", "keep", "end", "readDirect", "wait", "readClosed", "ended", "readWhole", "discard", "handStream", "loopExit", "loopWait", "refuse", "failStall"}

// String returns the actions' names joined by "|", or "-" for none.
func (a readerAction) String() string { return flagNames(uint64(a), readerActionNames[:]) }
