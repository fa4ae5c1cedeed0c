package service

import (
	"strings"
	"testing"
)

// connSpec is the connection's transition table as DESIGN and the
// package doc state it: state, event, next state, actions.
const connSpec = `
open     close   closing  leaveOpen|handshake
open     fail    closing  leaveOpen|failFast
open     finish  closed   leaveOpen|end
closing  fail    closing  failFast
closing  finish  closed   end
`

// TestConnTable checks the connection's table row by row against the
// specification above, and that every other pair changes nothing: a
// close while closing sends no second frame, and nothing happens to a
// closed connection.
func TestConnTable(t *testing.T) {
	t.Parallel()
	states := map[string]State{}
	for s := StateConnecting; s <= StateClosed; s++ {
		states[s.String()] = s
	}
	events := map[string]connEvent{}
	for e := range numConnEvents {
		events[e.String()] = e
	}
	actions := map[string]connAction{"-": 0}
	for i := range connActionNames {
		actions[connAction(1<<i).String()] = 1 << i
	}
	type pair struct {
		s State
		e connEvent
	}
	specified := map[pair]bool{}
	for line := range strings.Lines(strings.TrimSpace(connSpec)) {
		f := strings.Fields(line)
		from, okFrom := states[f[0]]
		on, okOn := events[f[1]]
		to, okTo := states[f[2]]
		if len(f) != 4 || !okFrom || !okOn || !okTo {
			t.Fatalf("spec line %q: want a state, an event, a state and actions", line)
		}
		var do connAction
		for _, name := range strings.Split(f[3], "|") {
			a, ok := actions[name]
			if !ok {
				t.Fatalf("spec line %q: unknown action %q", line, name)
			}
			do |= a
		}
		t.Run(f[0]+"/"+f[1], func(t *testing.T) {
			if gotTo, gotDo := connTransition(from, on); gotTo != to || gotDo != do {
				t.Errorf("%v on %v: %v, %v; want %v, %v", from, on, gotTo, gotDo, to, do)
			}
		})
		specified[pair{from, on}] = true
	}
	for s := StateConnecting; s <= StateClosed; s++ {
		for e := range numConnEvents {
			if specified[pair{s, e}] {
				continue
			}
			if to, do := connTransition(s, e); to != s || do != 0 {
				t.Errorf("%v on %v: %v, %v; the specification lists no such row", s, e, to, do)
			}
		}
	}
}
