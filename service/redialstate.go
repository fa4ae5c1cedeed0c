package service

import (
	"fmt"
	"strconv"
)

// redialMachine is where a Redialer stands, and the table that moves it.
// The Redialer's goroutine performs the action of each transition (a
// dial, a wait, the life of a connection) and steps the machine with the
// event that ended it; step is the only code that changes the machine.
//
// Close and the end of Redial's ctx are events like the others: both
// cancel the context every action runs under, and the action that was
// running returns close or ctx done. A pair of a phase and an event that
// the table does not hold is a bug of the Redialer: step panics, naming
// it.
type redialMachine struct {
	phase redialPhase
	conn  *Conn // in connected, the connection up; nil otherwise
	why   error // in stopped, why it stopped; nil otherwise
}

// redialInput is an event with what came with it.
type redialInput struct {
	ev   redialEvent
	conn *Conn // dialed, held: the attempt's connection
	err  error // how the attempt or the connection ended; for an event that stops, why
}

// redialPhase is a state of the machine. Each maps to one public
// RedialState; waiting and draining are both RedialWaiting.
type redialPhase uint8

const (
	phaseNew        redialPhase = iota // Redial returned; the URL is not checked yet
	phaseConnecting                    // BeforeDial, the dial, OnConnect, what Send held
	phaseConnected                     // a connection is up
	phaseWaiting                       // waiting out the backoff
	phaseDraining                      // waiting for Recv to be done with the last connection
	phaseStopped                       // for good
	numRedialPhases
)

var redialPhaseNames = [...]string{"new", "connecting", "connected", "waiting", "draining", "stopped"}

func (p redialPhase) String() string {
	if p < numRedialPhases {
		return redialPhaseNames[p]
	}
	return "redialPhase(" + strconv.Itoa(int(p)) + ")"
}

// public returns the RedialState that p shows.
func (p redialPhase) public() RedialState {
	switch p {
	case phaseConnected:
		return RedialConnected
	case phaseWaiting, phaseDraining:
		return RedialWaiting
	case phaseStopped:
		return RedialStopped
	}
	return RedialConnecting
}

// redialEvent is what ended an action: what came of a dial, of a
// connection, of a wait.
type redialEvent uint8

const (
	evUsable    redialEvent = iota // Redial's URL can be dialed
	evDialed                       // the attempt's connection is up, OnConnect done, nothing held by Send
	evHeld                         // as dialed, but Send holds messages for the connection
	evFailed                       // the attempt failed or the connection ended: come back
	evFinal                        // an ending that means not to come back
	evExhausted                    // MaxAttempts attempts in a row failed
	evWaited                       // the backoff passed, Recv is not reading the last connection
	evRecvBusy                     // the backoff passed, BeforeDial is set and Recv still reads the last connection
	evRecvDone                     // Recv is done with the last connection
	evClose                        // Close was called
	evCtxDone                      // Redial's ctx ended
	numRedialEvents
)

var redialEventNames = [...]string{"usable", "dialed", "held", "failed", "final", "exhausted", "waited", "recv busy", "recv done", "close", "ctx done"}

func (e redialEvent) String() string {
	if e < numRedialEvents {
		return redialEventNames[e]
	}
	return "redialEvent(" + strconv.Itoa(int(e)) + ")"
}

// redialAction is what the Redialer's goroutine does on a transition.
type redialAction uint8

const (
	actDial        redialAction = iota // report connecting; BeforeDial, Dial, OnConnect
	actFlush                           // send what Send held, in order
	actServe                           // report connected; wait for the connection's end
	actWait                            // report waiting; wait out the backoff
	actDrain                           // wait until Recv is done with the last connection
	actStop                            // report stopped; close Done
	actCloseNormal                     // close the connection with 1000, then stop
	actGoingAway                       // close the connection with 1001, then stop
	numRedialActions
)

var redialActionNames = [...]string{"dial", "flush", "serve", "wait", "drain", "stop", "close 1000", "close 1001"}

func (a redialAction) String() string {
	if a < numRedialActions {
		return redialActionNames[a]
	}
	return "redialAction(" + strconv.Itoa(int(a)) + ")"
}

// redialRow is a row of the table: from a phase, on an event, to
// the next phase, doing an action.
type redialRow struct {
	from redialPhase
	on   redialEvent
	to   redialPhase
	do   redialAction
}

// redialRows is the machine's transition table; step follows it. Each
// action returns only events that the phase it runs in lists (checked by
// TestRedialMachineComplete), so a pair the table does not list is a bug:
// step panics on it rather than change nothing.
var redialRows = [...]redialRow{
	{phaseNew, evUsable, phaseConnecting, actDial},
	{phaseNew, evFinal, phaseStopped, actStop}, // a URL no attempt can dial

	{phaseConnecting, evDialed, phaseConnected, actServe},
	{phaseConnecting, evHeld, phaseConnecting, actFlush},
	{phaseConnecting, evFailed, phaseWaiting, actWait},
	{phaseConnecting, evFinal, phaseStopped, actStop}, // 401, 403, a stopping close, an unusable URL from BeforeDial
	{phaseConnecting, evExhausted, phaseStopped, actStop},
	{phaseConnecting, evClose, phaseStopped, actStop}, // the attempt closed what it had dialed
	{phaseConnecting, evCtxDone, phaseStopped, actStop},

	{phaseConnected, evFailed, phaseWaiting, actWait},
	{phaseConnected, evFinal, phaseStopped, actStop}, // 1000, 1008, a StopCode
	{phaseConnected, evClose, phaseStopped, actCloseNormal},
	{phaseConnected, evCtxDone, phaseStopped, actGoingAway},

	{phaseWaiting, evWaited, phaseConnecting, actDial},
	{phaseWaiting, evRecvBusy, phaseDraining, actDrain},
	{phaseWaiting, evClose, phaseStopped, actStop},
	{phaseWaiting, evCtxDone, phaseStopped, actStop},

	{phaseDraining, evRecvDone, phaseConnecting, actDial},
	{phaseDraining, evClose, phaseStopped, actStop},
	{phaseDraining, evCtxDone, phaseStopped, actStop},
}

// step moves the machine on in.ev, keeping in.conn when it enters
// connected and in.err when it stops, and returns the action to perform.
// It panics on a pair that the table does not hold.
func (m *redialMachine) step(in redialInput) redialAction {
	for _, t := range redialRows {
		if t.from != m.phase || t.on != in.ev {
			continue
		}
		m.phase, m.conn = t.to, nil
		switch t.to {
		case phaseConnected:
			m.conn = in.conn
		case phaseStopped:
			m.why = in.err
		}
		return t.do
	}
	panic(fmt.Sprintf("service: redial: no transition from %v on %v", m.phase, in.ev))
}
