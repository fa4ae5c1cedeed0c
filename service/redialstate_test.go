package service

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// redialWantRow is a transition as the tests expect it.
type redialWantRow struct {
	From redialPhase
	On   redialEvent
	To   redialPhase
	Do   redialAction
}

// wantRedialRows is every transition of the Redialer's machine, written
// out again: TestRedialMachineRows checks each against step, and that the
// table holds no other.
var wantRedialRows = []redialWantRow{
	{phaseNew, evUsable, phaseConnecting, actDial},
	{phaseNew, evFinal, phaseStopped, actStop},

	{phaseConnecting, evDialed, phaseConnected, actServe},
	{phaseConnecting, evHeld, phaseConnecting, actFlush},
	{phaseConnecting, evFailed, phaseWaiting, actWait},
	{phaseConnecting, evFinal, phaseStopped, actStop},
	{phaseConnecting, evExhausted, phaseStopped, actStop},
	{phaseConnecting, evClose, phaseStopped, actStop},
	{phaseConnecting, evCtxDone, phaseStopped, actStop},

	{phaseConnected, evFailed, phaseWaiting, actWait},
	{phaseConnected, evFinal, phaseStopped, actStop},
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

// tryStep steps m on in, and returns what step panicked with, if it did.
func tryStep(m *redialMachine, in redialInput) (do redialAction, panicked any) {
	defer func() { panicked = recover() }()
	return m.step(in), nil
}

// TestRedialMachineRows: each transition moves the machine to its next
// phase with its action; the connection that comes with dialed is kept
// in connected only, and the error that comes with an event that stops
// is why it stopped.
func TestRedialMachineRows(t *testing.T) {
	t.Parallel()
	if len(redialRows) != len(wantRedialRows) {
		t.Errorf("the table holds %d transitions, the test %d", len(redialRows), len(wantRedialRows))
	}
	for _, row := range wantRedialRows {
		t.Run(fmt.Sprintf("%v on %v", row.From, row.On), func(t *testing.T) {
			t.Parallel()
			c, why := &Conn{}, errors.New("why")
			m := redialMachine{phase: row.From, conn: &Conn{}}
			do, panicked := tryStep(&m, redialInput{ev: row.On, conn: c, err: why})
			if panicked != nil {
				t.Fatal(panicked)
			}
			got := redialWantRow{row.From, row.On, m.phase, do}
			if diff := cmp.Diff(row, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if wantConn := (row.To == phaseConnected); (m.conn == c) != wantConn || !wantConn && m.conn != nil {
				t.Errorf("in %v, the machine holds connection %p (the event's: %p)", m.phase, m.conn, c)
			}
			if stopped := row.To == phaseStopped; stopped && m.why != why || !stopped && m.why != nil {
				t.Errorf("in %v, why = %v", m.phase, m.why)
			}
		})
	}
}

// TestRedialMachineRefuses: every pair of a phase and an event that the
// table does not hold makes step panic, naming both, and leaves the
// machine where it was.
func TestRedialMachineRefuses(t *testing.T) {
	t.Parallel()
	held := map[[2]uint8]bool{}
	for _, row := range wantRedialRows {
		held[[2]uint8{uint8(row.From), uint8(row.On)}] = true
	}
	refused := 0
	for p := range numRedialPhases {
		for ev := range numRedialEvents {
			if held[[2]uint8{uint8(p), uint8(ev)}] {
				continue
			}
			refused++
			m := redialMachine{phase: p}
			do, msg := tryStep(&m, redialInput{ev: ev})
			if msg == nil {
				t.Errorf("%v on %v: accepted, to %v doing %v", p, ev, m.phase, do)
			}
			if want := fmt.Sprintf("service: redial: no transition from %v on %v", p, ev); msg != want {
				t.Errorf("%v on %v: panicked with %v, want %q", p, ev, msg, want)
			}
			if m.phase != p {
				t.Errorf("%v on %v: the refusal moved the machine to %v", p, ev, m.phase)
			}
		}
	}
	if want := int(numRedialPhases)*int(numRedialEvents) - len(wantRedialRows); refused != want {
		t.Errorf("%d pairs refused, want %d", refused, want)
	}
}

// redialActionEvents are the events each action can end with (advance
// turns dialed into held when Send holds messages). The stopping actions
// end the Redialer's goroutine.
var redialActionEvents = map[redialAction][]redialEvent{
	actDial:  {evDialed, evHeld, evFailed, evFinal, evExhausted, evClose, evCtxDone},
	actFlush: {evDialed, evHeld, evFailed, evFinal, evExhausted, evClose, evCtxDone},
	actServe: {evFailed, evFinal, evClose, evCtxDone},
	actWait:  {evWaited, evRecvBusy, evClose, evCtxDone},
	actDrain: {evRecvDone, evClose, evCtxDone},
}

// TestRedialMachineComplete: whatever an action ends with, the phase it
// runs in has a transition for it; Close and the end of ctx are heard in
// every phase an action waits in; stopped is final; and every phase can
// be reached from new.
func TestRedialMachineComplete(t *testing.T) {
	t.Parallel()
	has := func(p redialPhase, ev redialEvent) bool {
		for _, row := range redialRows {
			if row.from == p && row.on == ev {
				return true
			}
		}
		return false
	}
	reached := map[redialPhase]bool{phaseNew: true}
	for range numRedialPhases {
		for _, row := range redialRows {
			if reached[row.from] {
				reached[row.to] = true
			}
		}
	}
	for _, row := range redialRows {
		evs, ok := redialActionEvents[row.do]
		if !ok && row.to != phaseStopped {
			t.Errorf("%v on %v: %v ends the goroutine outside stopped", row.from, row.on, row.do)
		}
		if ok && row.to == phaseStopped {
			t.Errorf("%v on %v: stopped, yet %v goes on", row.from, row.on, row.do)
		}
		for _, ev := range evs {
			if !has(row.to, ev) {
				t.Errorf("%v on %v: %v can end with %v, which %v does not take", row.from, row.on, row.do, ev, row.to)
			}
		}
	}
	for p := range numRedialPhases {
		if !reached[p] {
			t.Errorf("%v cannot be reached from new", p)
		}
		if p == phaseNew || p == phaseStopped {
			continue
		}
		if !has(p, evClose) || !has(p, evCtxDone) {
			t.Errorf("%v does not hear Close or the end of ctx", p)
		}
	}
	for ev := range numRedialEvents {
		if has(phaseStopped, ev) {
			t.Errorf("stopped takes %v", ev)
		}
	}
}

// TestRedialPhaseNames: each phase shows one public state, and phases,
// events and actions have names.
func TestRedialPhaseNames(t *testing.T) {
	t.Parallel()
	type shown struct {
		Name   string
		Public RedialState
	}
	var got []shown
	for p := range numRedialPhases + 1 {
		got = append(got, shown{p.String(), p.public()})
	}
	want := []shown{
		{"new", RedialConnecting},
		{"connecting", RedialConnecting},
		{"connected", RedialConnected},
		{"waiting", RedialWaiting},
		{"draining", RedialWaiting},
		{"stopped", RedialStopped},
		{"redialPhase(6)", RedialConnecting},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	if len(redialEventNames) != int(numRedialEvents) || len(redialActionNames) != int(numRedialActions) {
		t.Errorf("%d event names for %d events, %d action names for %d actions", len(redialEventNames), numRedialEvents, len(redialActionNames), numRedialActions)
	}
	if got := fmt.Sprint(numRedialEvents, numRedialActions); got != "redialEvent(11) redialAction(8)" {
		t.Errorf("names out of range: %s", got)
	}
}
