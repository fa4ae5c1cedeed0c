package service

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
)

// serverConn serves one connection and hands its server side to the test,
// which drives it; the handler waits for the connection's end. When the
// test ends the connection is dropped and its handler waited for, so that
// nothing of it outlives the test (an idle reader would otherwise notice
// the peer's end only after a turn).
func serverConn(t *testing.T, opts Options) (*Conn, *peer) {
	t.Helper()
	got := make(chan *Conn, 1)
	returned := make(chan struct{})
	_, addr := serveFunc(t, opts, func(ctx context.Context, c *Conn) error {
		defer close(returned)
		got <- c
		<-ctx.Done()
		return nil
	})
	p := newPeer(t, addr)
	select {
	case c := <-got:
		t.Cleanup(func() {
			c.abort(errors.New("the test is over"))
			<-returned
		})
		return c, p
	case <-time.After(5 * time.Second):
		t.Fatal("no connection")
		return nil, nil
	}
}

// expectState waits for the reader to reach state with queued messages.
func expectState(t *testing.T, c *Conn, want readerState, queued int) {
	t.Helper()
	var st readerState
	var n int
	if !wstest.Settle(3*time.Second, func() bool { st, n = c.rd.snapshot(); return st == want && n == queued }) {
		t.Fatalf("reader is %v with %d queued, want %v with %d", st, n, want, queued)
	}
}

// recvAsync receives on another goroutine.
func recvAsync(ctx context.Context, c *Conn) <-chan string {
	ch := make(chan string, 1)
	go func() {
		_, data, err := c.Recv(ctx)
		if err != nil {
			ch <- "error: " + err.Error()
			return
		}
		ch <- string(data)
	}()
	return ch
}

func expectRecv(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("received %q, want %q", got, want)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("nothing received, want %q", want)
	}
}

func send(t *testing.T, p *peer, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		if err := p.c.WriteMessage(wstest.OpText, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReaderTransitions drives the reader machine through each row of its
// transition table (see reader) and checks the state it reaches.
func TestReaderTransitions(t *testing.T) {
	t.Parallel()
	short := Options{PingInterval: 100 * time.Millisecond, PongTimeout: 150 * time.Millisecond, RecvQueue: 2}
	tests := []struct {
		name string
		opts Options
		run  func(t *testing.T, c *Conn, p *peer)
	}{
		{"unstarted: start gives idle", Options{}, func(t *testing.T, c *Conn, p *peer) {
			expectState(t, c, rIdle, 0)
		}},
		{"idle: direct receive gives direct, its message idle", Options{}, func(t *testing.T, c *Conn, p *peer) {
			ch := recvAsync(c.Context(), c)
			expectState(t, c, rDirect, 0)
			send(t, p, "a")
			expectRecv(t, ch, "a")
			expectState(t, c, rIdle, 0)
		}},
		{"idle: interruptible receive starts the loop", Options{}, func(t *testing.T, c *Conn, p *peer) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch := recvAsync(ctx, c)
			expectState(t, c, rLoop, 0)
			send(t, p, "a")
			expectRecv(t, ch, "a")
			expectState(t, c, rLoop, 0)
		}},
		{"idle: the turn timer starts the loop", Options{}, func(t *testing.T, c *Conn, p *peer) {
			if st, _ := c.rd.snapshot(); st != rIdle {
				t.Fatalf("state %v before a turn, want idle", st)
			}
			time.Sleep(turnDelay + 100*time.Millisecond)
			expectState(t, c, rLoop, 0)
		}},
		{"idle: CloseRead starts the loop", Options{}, func(t *testing.T, c *Conn, p *peer) {
			c.CloseRead()
			expectState(t, c, rRefusing, 0)
		}},
		{"idle: closing starts the loop for the peer's close", Options{}, func(t *testing.T, c *Conn, p *peer) {
			go func() { _ = c.Close(1000, "") }()
			select {
			case f := <-p.closes:
				st, _ := c.rd.snapshot()
				if st != rDraining {
					t.Errorf("closing: reader is %v, want draining", st)
				}
				_ = p.c.WriteClose(f.CloseCode(), "")
			case <-time.After(3 * time.Second):
				t.Fatal("no close frame")
			}
			expectState(t, c, rEnded, 0)
		}},
		{"direct: message read while closing starts the loop", Options{}, func(t *testing.T, c *Conn, p *peer) {
			ch := recvAsync(c.Context(), c)
			expectState(t, c, rDirect, 0)
			go func() { _ = c.Close(1000, "") }()
			<-p.closes
			send(t, p, "late")
			if got := <-ch; got != "late" {
				t.Fatalf("direct receive got %q, want the message it was reading", got)
			}
			expectState(t, c, rDraining, 0)
			_ = p.c.WriteClose(1000, "")
			expectState(t, c, rEnded, 0)
		}},
		{"loop: messages are queued", Options{}, func(t *testing.T, c *Conn, p *peer) {
			time.Sleep(turnDelay + 100*time.Millisecond)
			send(t, p, "a", "b")
			expectState(t, c, rLoop, 2)
		}},
		{"loop: a direct receiver takes the role back", Options{}, func(t *testing.T, c *Conn, p *peer) {
			time.Sleep(turnDelay + 100*time.Millisecond)
			expectState(t, c, rLoop, 0)
			ch := recvAsync(c.Context(), c)
			expectState(t, c, rHandBack, 0) // the receiver waits on the loop
			send(t, p, "a")
			expectRecv(t, ch, "a")
			expectState(t, c, rIdle, 0)
			ch = recvAsync(c.Context(), c)
			expectState(t, c, rDirect, 0)
			send(t, p, "b")
			expectRecv(t, ch, "b")
		}},
		{"loop: a full queue gives full; a take, loop", Options{RecvQueue: 2}, func(t *testing.T, c *Conn, p *peer) {
			time.Sleep(turnDelay + 100*time.Millisecond)
			send(t, p, "a", "b", "c")
			expectState(t, c, rFull, 2)
			expectRecv(t, recvAsync(c.Context(), c), "a")
			expectState(t, c, rFull, 2) // "c" fills it again
			expectRecv(t, recvAsync(c.Context(), c), "b")
			expectRecv(t, recvAsync(c.Context(), c), "c")
			expectState(t, c, rLoop, 0)
		}},
		{"full: the stall timer fails with 1008", short, func(t *testing.T, c *Conn, p *peer) {
			send(t, p, "a", "b")
			<-c.Done()
			expectState(t, c, rEnded, 2)
			if code, reason := CloseStatus(c.Err()); code != protocol.ClosePolicyViolation || !strings.Contains(reason, "not read") {
				t.Errorf("ended with %v, want 1008 saying messages were not read", c.Err())
			}
		}},
		{"loop: a waiting Reader gets the stream; its end, loop", Options{}, func(t *testing.T, c *Conn, p *peer) {
			got := make(chan string, 1)
			go func() {
				_, r, err := c.Reader(context.Background())
				if err != nil {
					got <- err.Error()
					return
				}
				expectState(t, c, rStream, 0)
				b := make([]byte, 10)
				n, _ := r.Read(b)
				got <- string(b[:n])
			}()
			expectState(t, c, rHandStream, 0)
			send(t, p, "streamed")
			expectRecv(t, got, "streamed")
			expectState(t, c, rStream, 0)
			// The next receive releases the stream: the loop reads on and
			// hands the role back to it.
			ch := recvAsync(c.Context(), c)
			expectState(t, c, rHandBack, 0)
			send(t, p, "next")
			expectRecv(t, ch, "next")
			expectState(t, c, rIdle, 0)
		}},
		{"stream: the stall timer fails with 1008", short, func(t *testing.T, c *Conn, p *peer) {
			go func() { _, _, _ = c.Reader(context.Background()) }()
			expectState(t, c, rHandStream, 0)
			send(t, p, "never read")
			<-c.Done()
			if code, _ := CloseStatus(c.Err()); code != protocol.ClosePolicyViolation {
				t.Errorf("ended with %v, want 1008", c.Err())
			}
		}},
		{"loop: a data message after CloseRead fails with 1008", Options{}, func(t *testing.T, c *Conn, p *peer) {
			c.CloseRead()
			send(t, p, "a")
			<-c.Done()
			expectState(t, c, rEnded, 0)
			if code, _ := CloseStatus(c.Err()); code != protocol.ClosePolicyViolation {
				t.Errorf("ended with %v, want 1008", c.Err())
			}
		}},
		{"any: the peer's close ends reading", Options{}, func(t *testing.T, c *Conn, p *peer) {
			time.Sleep(turnDelay + 100*time.Millisecond)
			_ = p.c.WriteClose(4000, "done")
			expectState(t, c, rEnded, 0)
			if code, _ := CloseStatus(c.Err()); code != 4000 {
				t.Errorf("ended with %v, want 4000", c.Err())
			}
		}},
		{"direct: a receive that waits past its turn holds no timer", Options{}, func(t *testing.T, c *Conn, p *peer) {
			ch := recvAsync(c.Context(), c)
			expectState(t, c, rDirect, 0)
			waitFor(t, 3*turnDelay, func() bool { return !c.rd.holdsTimer() })
			send(t, p, "a")
			expectRecv(t, ch, "a")
			expectState(t, c, rIdle, 0)
			if !c.rd.holdsTimer() {
				t.Error("idle without a timer: the turn would never end")
			}
		}},
		{"ended: holds no timer", short, func(t *testing.T, c *Conn, p *peer) {
			send(t, p, "a", "b") // fills the queue: the stall limit is due
			expectState(t, c, rFull, 2)
			c.abort(errors.New("test"))
			expectState(t, c, rEnded, 2)
			if c.rd.holdsTimer() {
				t.Error("an ended reader still holds its timer")
			}
		}},
		{"idle: the connection's end gives ended", Options{}, func(t *testing.T, c *Conn, p *peer) {
			expectState(t, c, rIdle, 0)
			c.abort(errors.New("test"))
			expectState(t, c, rEnded, 0)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, p := serverConn(t, tt.opts)
			tt.run(t, c, p)
		})
	}
}

// readerSpec is the reader role's transition table as its documentation
// states it: state, event, next state, actions. Pairs it does not list
// change nothing and do nothing.
const readerSpec = `
unstarted       start          idle            armTurn
unstarted       closeRead      refusing        startLoop
unstarted       closing        draining        startLoop
unstarted       finished       ended           wakeReceiver|end
idle            take           idle            pop
idle            recvDirect     direct          readDirect
idle            recvWait       loop            startLoop|wait
idle            recvStream     handStream      startLoop|wait
idle            turnOver       loop            startLoop
idle            closeRead      refusing        startLoop
idle            closeReadHeld  refusing        startLoop|refuse
idle            closing        draining        startLoop
idle            finished       ended           wakeReceiver|end
direct          directRead     idle            armTurn
direct          closeRead      refusingDirect  -
direct          closing        drainingDirect  -
direct          readEnded      ended           wakeReceiver|end
loop            take           loop            pop
loop            recvDirect     handBack        wait
loop            recvWait       loop            wait
loop            recvStream     handStream      wait
loop            message        loop            readWhole
loop            whole          loop            wakeReceiver|keep
loop            queueFull      full            armStall|loopWait
loop            closeRead      refusing        -
loop            closeReadHeld  refusing        refuse
loop            closing        draining        -
loop            readEnded      ended           wakeReceiver|end
handBack        message        handBack        readWhole
handBack        whole          idle            armTurn|wakeReceiver|keep|loopExit
handBack        abandon        loop            -
handBack        closeRead      refusing        wakeReceiver
handBack        closing        draining        -
handBack        readEnded      ended           wakeReceiver|end
handStream      take           loop            pop
handStream      message        stream          armStall|wakeReceiver|handStream
handStream      whole          handStream      wakeReceiver|keep
handStream      queueFull      full            armStall|loopWait
handStream      abandon        loop            -
handStream      closeRead      refusing        wakeReceiver
handStream      closing        draining        -
handStream      readEnded      ended           wakeReceiver|end
full            take           loop            stopAlarm|wakeLoop|pop
full            stallOver      full            failStall
full            closeReadHeld  refusing        stopAlarm|wakeLoop|refuse
full            closing        draining        stopAlarm|wakeLoop
full            finished       draining        stopAlarm|wakeLoop
stream          take           stream          pop
stream          takeStream     stream          takePending
stream          streamRead     streamRead      -
stream          streamDone     loop            stopAlarm
stream          stallOver      stream          failStall
stream          closeRead      refusing        stopAlarm|refuse
stream          closeReadHeld  refusing        stopAlarm|refuse
stream          closing        draining        stopAlarm
streamRead      streamPause    stream          armStall
streamRead      streamDone     loop            stopAlarm
streamRead      stallOver      streamRead      armStall
streamRead      closeRead      refusing        stopAlarm|refuse
streamRead      closeReadHeld  refusing        stopAlarm|refuse
streamRead      closing        draining        stopAlarm
refusing        take           refusing        readClosed
refusing        takeStream     refusing        readClosed
refusing        recvDirect     refusing        readClosed
refusing        recvWait       refusing        readClosed
refusing        recvStream     refusing        readClosed
refusing        message        refusing        refuse
refusing        whole          refusing        refuse
refusing        closing        draining        -
refusing        readEnded      ended           wakeReceiver|end
refusingDirect  directRead     refusing        startLoop
refusingDirect  closing        drainingDirect  -
refusingDirect  readEnded      ended           wakeReceiver|end
draining        take           draining        pop
draining        recvDirect     draining        wait
draining        recvWait       draining        wait
draining        recvStream     draining        wait
draining        message        draining        discard
draining        readEnded      ended           wakeReceiver|end
drainingDirect  directRead     draining        startLoop
drainingDirect  readEnded      ended           wakeReceiver|end
ended           take           ended           pop
ended           recvDirect     ended           ended
ended           recvWait       ended           ended
ended           recvStream     ended           ended
`

// TestReaderTable checks the machine's table row by row against the
// specification above, and that every pair the specification leaves out
// is a no-op.
func TestReaderTable(t *testing.T) {
	t.Parallel()
	var states []readerState
	for s := range numReaderStates {
		states = append(states, s)
	}
	var events []readerEvent
	for e := range numReaderEvents {
		events = append(events, e)
	}
	checkTable(t, readerSpec, states, events, readerActionNames[:], transition)
}

// TestReaderTableComplete checks properties of the whole table that keep
// the connection live: a receive always gets an answer, every state
// where a goroutine reads ends with reading, parked loops wake when the
// connection closes, and what is meant for the loop or a receiver only
// answers their events.
func TestReaderTableComplete(t *testing.T) {
	t.Parallel()
	answers := aPop | aTakePending | aReadDirect | aWait | aReadClosed | aEnded
	receives := map[readerState][]readerEvent{
		rIdle:       {evTake, evRecvDirect, evRecvWait, evRecvStream},
		rLoop:       {evTake, evRecvDirect, evRecvWait, evRecvStream},
		rHandStream: {evTake},
		rFull:       {evTake},
		rStream:     {evTakeStream},
		rRefusing:   {evTake, evTakeStream, evRecvDirect, evRecvWait, evRecvStream},
		rDraining:   {evTake, evRecvDirect, evRecvWait, evRecvStream},
		rEnded:      {evTake, evRecvDirect, evRecvWait, evRecvStream},
	}
	for s, es := range receives {
		for _, e := range es {
			if _, do := transition(s, e); do&answers == 0 {
				t.Errorf("%v on %v: the receiver gets no answer", s, e)
			}
		}
	}
	for s := range numReaderStates {
		if !s.reads() {
			continue
		}
		// In the stream states the loop waits for the stream and ends
		// reading after streamDone.
		if to, _ := transition(s, evReadEnded); to != rEnded && s != rStream && s != rStreamRead {
			t.Errorf("%v on readEnded: %v, want ended", s, to)
		}
		if to, _ := transition(s, evClosing); !to.draining() {
			t.Errorf("%v on closing: %v, want a draining state", s, to)
		}
	}
	for _, s := range []readerState{rFull, rStream, rStreamRead} {
		to, do := transition(s, evClosing)
		if to != rDraining || (s == rFull && do&aWakeLoop == 0) {
			t.Errorf("%v on closing: %v, %v; the parked loop must read on, draining", s, to, do)
		}
	}
	loopOnly := aReadWhole | aDiscard | aHandStream | aLoopExit | aLoopWait | aKeep
	receiverOnly := answers
	for _, r := range readerRows {
		fromLoop := r.on == evMessage || r.on == evWhole || r.on == evQueueFull
		if !fromLoop && r.do&loopOnly != 0 {
			t.Errorf("%v on %v: %v answers the loop, which did not deliver the event", r.from, r.on, r.do&loopOnly)
		}
		fromReceiver := r.on == evTake || r.on == evTakeStream || r.on == evRecvDirect || r.on == evRecvWait || r.on == evRecvStream
		if !fromReceiver && r.do&receiverOnly != 0 {
			t.Errorf("%v on %v: %v answers a receiver, which did not deliver the event", r.from, r.on, r.do&receiverOnly)
		}
		if r.do&aStartLoop != 0 && r.from.reads() && r.from != rDirect && r.from != rRefusingDirect {
			t.Errorf("%v on %v: starts a second loop", r.from, r.on)
		}
	}
}
