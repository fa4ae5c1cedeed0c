package service

import (
	"fmt"
	"strings"
	"time"
)

// The connection's life cycle is a state machine: connRows says, for its
// State and what happens to it, the next State and what is done. conn.mu
// guards the state; stepConn follows the table.
//
// Every close goes through it: the application's Close, a handler's
// return, the peer's close frame and an observer's refusal begin the
// closing handshake (connClose); a violation wsmap finds fails the
// connection at once (connFail, RFC 6455 section 7.1.7); the end of
// reading, a timeout or Shutdown's deadline drop it (connFinish).

// connEvent is what happens to a connection.
type connEvent uint8

const (
	connClose  connEvent = iota // a closing handshake begins
	connFail                    // wsmap fails the connection
	connFinish                  // the TCP connection is to be closed
	numConnEvents
)

var connEventNames = [...]string{"close", "fail", "finish"}

func (e connEvent) String() string {
	if int(e) < len(connEventNames) {
		return connEventNames[e]
	}
	return fmt.Sprintf("connEvent(%d)", e)
}

// connAction is what a transition of the connection does, as a set.
type connAction uint8

const (
	// leave the open state: record the close that began closing, stop
	// the keepalive, cancel the context (which tells that the connection
	// is closing)
	connLeaveOpen connAction = 1 << iota
	// the closing handshake: the reader reads until the peer's close or
	// the close deadline (none once the peer's close frame has come:
	// nothing reads after it), and the close frame goes out
	connHandshake
	// fail fast: the close frame goes out unless one has, the write side
	// is shut down and the connection finished
	connFailFast
	// the end: record the outcome, close the socket, end reading, cancel
	// the context, close Done's channel, release the connection
	connEnd
)

var connActionNames = [...]string{"leaveOpen", "handshake", "failFast", "end"}

// String returns the actions' names joined by "|", or "-" for none.
func (a connAction) String() string { return flagNames(uint64(a), connActionNames[:]) }

// flagNames joins with "|" the names of the bits set in a, bit i being
// names[i]; "-" for none. The transition tables' actions are such sets.
func flagNames(a uint64, names []string) string {
	if a == 0 {
		return "-"
	}
	var set []string
	for i, name := range names {
		if a&(1<<i) != 0 {
			set = append(set, name)
		}
	}
	return strings.Join(set, "|")
}

// A connRow is one transition of the connection.
type connRow struct {
	from State
	on   connEvent
	to   State
	do   connAction
}

// connRows is the connection's transition table. A pair it does not list
// changes nothing: a close or a failure of a connection already closed,
// a second close while closing (the first one's frame went out).
var connRows = []connRow{
	{StateOpen, connClose, StateClosing, connLeaveOpen | connHandshake},
	{StateOpen, connFail, StateClosing, connLeaveOpen | connFailFast},
	{StateOpen, connFinish, StateClosed, connLeaveOpen | connEnd},
	{StateClosing, connFail, StateClosing, connFailFast},
	{StateClosing, connFinish, StateClosed, connEnd},
}

// connTable is connRows indexed by state and event.
var connTable = func() (t [StateClosed + 1][numConnEvents]struct {
	to     State
	do     connAction
	listed bool
}) {
	for _, r := range connRows {
		t[r.from][r.on].to, t[r.from][r.on].do, t[r.from][r.on].listed = r.to, r.do, true
	}
	return t
}()

// connTransition looks up the row of state s and event e.
func connTransition(s State, e connEvent) (State, connAction) {
	if s < 0 || s > StateClosed {
		return s, 0
	}
	t := connTable[s][e]
	if !t.listed {
		return s, 0
	}
	return t.to, t.do
}

// stepConn moves the connection on e, with ce the close it stands for,
// and does the row's actions: those on the connection's own fields under
// c.mu, the others (writes, the reader, the context) after it.
func (c *Conn) stepConn(e connEvent, ce *CloseError) connAction {
	c.mu.Lock()
	to, do := connTransition(c.state, e)
	c.state = to
	peerClosed := c.peerClose != nil
	if do&connLeaveOpen != 0 {
		c.initiated = ce
		c.stopKeepaliveLocked()
	}
	var done chan struct{} // Done's channel, if made, to close at the end
	if do&connEnd != 0 {
		c.err = ce
		c.stopKeepaliveLocked()
		done = c.done
	}
	c.mu.Unlock()
	if do == 0 {
		return 0
	}
	out := c.outcome(ce)
	if do&connLeaveOpen != 0 && do&connEnd == 0 {
		if do&connHandshake != 0 {
			var deadline time.Time
			if !peerClosed {
				deadline = time.Now().Add(c.opts.CloseTimeout)
			}
			c.rd.startClosing(deadline)
		}
		c.cancel(out)
	}
	if do&connHandshake != 0 {
		c.sendClose(ce.Code, ce.Reason)
	}
	if do&connFailFast != 0 {
		c.sendClose(ce.Code, ce.Reason)
		c.dropAfterClose()
		c.stepConn(connFinish, out)
	}
	if do&connEnd != 0 {
		_ = c.guard.Conn.Close()
		c.rd.connFinished(ce)
		c.cancel(ce)
		if done != nil {
			close(done)
		}
		c.release()
	}
	return do
}
