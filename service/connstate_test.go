package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsmap/wsmap/protocol"
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
	states := []State{StateConnecting, StateOpen, StateClosing, StateClosed}
	var events []connEvent
	for e := range numConnEvents {
		events = append(events, e)
	}
	checkTable(t, connSpec, states, events, connActionNames[:], connTransition)
}

// checkTable checks a transition function against a specification whose
// lines are rows, "state event next actions" (actions joined by "|", "-"
// for none): each row as a subtest, then every pair of states and
// events the specification leaves out, which must change nothing and do
// nothing.
func checkTable[S, E interface {
	comparable
	fmt.Stringer
}, A interface {
	~uint8 | ~uint32
	fmt.Stringer
}](t *testing.T, spec string, states []S, events []E, actionNames []string, transition func(S, E) (S, A)) {
	t.Helper()
	stateOf := map[string]S{}
	for _, s := range states {
		stateOf[s.String()] = s
	}
	eventOf := map[string]E{}
	for _, e := range events {
		eventOf[e.String()] = e
	}
	type pair struct {
		s S
		e E
	}
	specified := map[pair]bool{}
	for line := range strings.Lines(strings.TrimSpace(spec)) {
		f := strings.Fields(line)
		if len(f) != 4 {
			t.Fatalf("spec line %q: want a state, an event, a state and actions", line)
		}
		from, okFrom := stateOf[f[0]]
		on, okOn := eventOf[f[1]]
		to, okTo := stateOf[f[2]]
		if !okFrom || !okOn || !okTo {
			t.Fatalf("spec line %q: unknown state or event", line)
		}
		var do A
		if f[3] != "-" {
			for _, name := range strings.Split(f[3], "|") {
				i := slices.Index(actionNames, name)
				if i < 0 {
					t.Fatalf("spec line %q: unknown action %q", line, name)
				}
				do |= A(1) << i
			}
		}
		t.Run(f[0]+"/"+f[1], func(t *testing.T) {
			if gotTo, gotDo := transition(from, on); gotTo != to || gotDo != do {
				t.Errorf("%v on %v: %v, %v; want %v, %v", from, on, gotTo, gotDo, to, do)
			}
		})
		specified[pair{from, on}] = true
	}
	for _, s := range states {
		for _, e := range events {
			if specified[pair{s, e}] {
				continue
			}
			if to, do := transition(s, e); to != s || do != 0 {
				t.Errorf("%v on %v: %v, %v; the specification lists no such row", s, e, to, do)
			}
		}
	}
}

// TestCloseReadDeadline checks the closing handshake's read deadline: a
// close the server begins reads the peer's answer under CloseTimeout,
// while a close the peer begins sets no deadline, since its close frame
// was the last thing read.
func TestCloseReadDeadline(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		peer     bool // the client closes first
		deadline bool // the server's socket gets the close deadline
	}{
		{"server closes", false, true},
		{"peer closes", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan bool, 1)
			url, _ := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
				if tc.peer {
					_, _, _ = c.Recv(ctx) // until the peer's close
				} else {
					_ = c.Close(protocol.CloseNormal, "")
				}
				c.rd.mu.Lock()
				got <- c.rd.deadlineSet
				c.rd.mu.Unlock()
				return nil
			})
			c := dial(t, url, nil)
			ctx := testCtx(t, 5*time.Second)
			if tc.peer {
				_ = c.Close(protocol.CloseNormal, "")
			} else if _, _, err := c.Recv(ctx); !errors.Is(err, ErrClosed) {
				t.Fatalf("Recv: %v, want the server's close", err)
			}
			select {
			case set := <-got:
				if set != tc.deadline {
					t.Errorf("read deadline set: %v, want %v", set, tc.deadline)
				}
			case <-ctx.Done():
				t.Fatal("the handler did not return")
			}
		})
	}
}
