package service

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
)

// TestReceiveModesInterleave receives one stream of messages by every
// means in turn: Recv with the connection's context (read directly) and
// with a context of its own (through the read loop), Reader, RecvInto,
// and after pauses long enough for the read loop to take over and read
// ahead. Every message arrives once, whole and in order.
func TestReceiveModesInterleave(t *testing.T) {
	t.Parallel()
	const n = 240
	url, _ := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
		for i := range n {
			if err := c.Send(ctx, protocol.Text, []byte(strconv.Itoa(i)+strings.Repeat(".", i*37%3000))); err != nil {
				return err
			}
		}
		_, _, err := c.Recv(ctx)
		return err
	})
	c := dial(t, url, nil)
	var buf []byte
	for i := range n {
		var data []byte
		var err error
		switch i % 6 {
		case 0:
			_, data, err = c.Recv(c.Context())
		case 1:
			_, data, err = c.Recv(testCtx(t, 5*time.Second))
		case 2:
			var r io.Reader
			if _, r, err = c.Reader(testCtx(t, 5*time.Second)); err == nil {
				data, err = io.ReadAll(r)
			}
		case 3:
			_, data, err = c.RecvInto(c.Context(), buf)
			buf = data
		case 4:
			_, data, err = c.RecvInto(testCtx(t, 5*time.Second), buf)
		case 5:
			_, data, err = c.Recv(context.Background())
		}
		if err != nil {
			t.Fatalf("message %d (mode %d): %v", i, i%6, err)
		}
		want := strconv.Itoa(i) + strings.Repeat(".", i*37%3000)
		if string(data) != want {
			t.Fatalf("message %d (mode %d): got %.20q… (%d bytes), want %.20q… (%d bytes)", i, i%6, data, len(data), want, len(want))
		}
		if i%40 == 39 {
			time.Sleep(turnDelay + 100*time.Millisecond)
		}
	}
}

// TestDirectRecvNeedsNoReaderGoroutine checks that a handler waiting in
// Recv with its connection's context is the only goroutine its connection
// needs once the first turn has passed: nothing else reads for it.
func TestDirectRecvNeedsNoReaderGoroutine(t *testing.T) {
	const conns = 50
	url, _ := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
		for {
			typ, data, err := c.Recv(ctx)
			if err != nil {
				return err
			}
			if err := c.Send(ctx, typ, data); err != nil {
				return err
			}
		}
	})
	time.Sleep(50 * time.Millisecond)
	before := runtime.NumGoroutine()
	// gorilla clients start no goroutines of their own.
	var clients []*websocket.Conn
	for range conns {
		wc, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer wc.Close()
		if err := wc.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
			t.Fatal(err)
		}
		if _, data, err := wc.ReadMessage(); err != nil || string(data) != "hi" {
			t.Fatalf("echo %q, %v", data, err)
		}
		clients = append(clients, wc)
	}
	time.Sleep(turnDelay + 300*time.Millisecond) // the turn timers fire
	per := float64(runtime.NumGoroutine()-before) / conns
	t.Logf("%.2f goroutines per connection", per)
	if per > 1.1 {
		t.Errorf("%.2f goroutines per connection waiting in Recv, want 1 (the handler's)", per)
	}
	for _, wc := range clients {
		_ = wc.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
		_, _, _ = wc.ReadMessage()
	}
}

// TestRecvIntoReusesBuffer checks that RecvInto reads into the buffer it
// is given when the message fits, and into a larger one when it does not.
func TestRecvIntoReusesBuffer(t *testing.T) {
	t.Parallel()
	sizes := []int{10, 1024, 0, 5000, 100, 1025}
	url, _ := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
		for i, n := range sizes {
			if err := c.Send(ctx, protocol.Binary, bytes.Repeat([]byte{byte('a' + i)}, n)); err != nil {
				return err
			}
		}
		_, _, err := c.Recv(ctx)
		return err
	})
	c := dial(t, url, nil)
	buf := make([]byte, 7, 1024)
	for i, n := range sizes {
		_, data, err := c.RecvInto(c.Context(), buf)
		if err != nil {
			t.Fatal(err)
		}
		if want := bytes.Repeat([]byte{byte('a' + i)}, n); !bytes.Equal(data, want) {
			t.Fatalf("message %d: %d bytes %.10q…, want %d bytes of %c", i, len(data), data, n, 'a'+i)
		}
		shared := cap(data) > 0 && &data[:1][0] == &buf[:1][0]
		if fits := n <= cap(buf); shared != fits {
			t.Errorf("message %d of %d bytes in a buffer of %d: shares the buffer: %v, want %v", i, n, cap(buf), shared, fits)
		}
	}
}

// TestRecvExactSize: Recv returns each message in a buffer of its exact
// size, whatever the frame guard told of its length beforehand: messages
// short and long, pipelined so that the guard reads one message's frame
// while the one before is being read, fragmented, beyond the length that
// is read straight into its buffer, interleaved with a ping; read
// directly, and by the read loop.
func TestRecvExactSize(t *testing.T) {
	t.Parallel()
	const bigMessage = 256 << 10
	msg := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	frames := []wstest.Frame{
		{Fin: true, Opcode: wstest.OpBinary, Payload: msg(10, 'a')},
		{Fin: true, Opcode: wstest.OpBinary, Payload: msg(70000, 'b')},
		{Fin: true, Opcode: wstest.OpBinary, Payload: msg(100, 'c')},
		{Fin: true, Opcode: wstest.OpBinary, Payload: msg(5000, 'd')},
		{Fin: true, Opcode: wstest.OpPing, Payload: []byte("p")},
		{Fin: true, Opcode: wstest.OpBinary, Payload: msg(4096, 'e')},
		{Fin: false, Opcode: wstest.OpText, Payload: msg(40000, 'f')},
		{Fin: true, Opcode: wstest.OpContinuation, Payload: msg(30000, 'f')},
		{Fin: true, Opcode: wstest.OpBinary, Payload: msg(bigMessage+1, 'g')},
		{Fin: true, Opcode: wstest.OpBinary, Payload: nil},
		{Fin: true, Opcode: wstest.OpBinary, Payload: msg(bigMessage, 'h')},
		{Fin: false, Opcode: wstest.OpBinary, Payload: msg(3000, 'i')},
		{Fin: true, Opcode: wstest.OpPing, Payload: []byte("q")},
		{Fin: false, Opcode: wstest.OpContinuation, Payload: msg(3000, 'i')},
		{Fin: true, Opcode: wstest.OpContinuation, Payload: msg(20000, 'i')},
	}
	// A message in fragments of 1 KiB, more than the guard looks ahead.
	for i := range 100 {
		op := byte(wstest.OpContinuation)
		if i == 0 {
			op = wstest.OpText
		}
		frames = append(frames, wstest.Frame{Fin: i == 99, Opcode: op, Payload: msg(1024, 'j')})
	}
	want := [][]byte{msg(10, 'a'), msg(70000, 'b'), msg(100, 'c'), msg(5000, 'd'), msg(4096, 'e'),
		msg(70000, 'f'), msg(bigMessage+1, 'g'), {}, msg(bigMessage, 'h'), msg(26000, 'i'), msg(100*1024, 'j')}
	for _, direct := range []bool{true, false} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) {
			t.Parallel()
			got := make(chan [][]byte, 1)
			_, addr := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
				if !direct {
					var cancel context.CancelFunc
					ctx, cancel = context.WithCancel(ctx) // a context of its own: the read loop reads
					defer cancel()
				}
				var msgs [][]byte
				for range want {
					_, data, err := c.Recv(ctx)
					if err != nil {
						got <- msgs
						return err
					}
					if len(data) != cap(data) {
						t.Errorf("message %d: %d bytes in a buffer of %d", len(msgs), len(data), cap(data))
					}
					msgs = append(msgs, data)
				}
				got <- msgs
				return nil
			})
			wc, err := wstest.Dial(addr, "/")
			if err != nil {
				t.Fatal(err)
			}
			defer wc.Close()
			if _, err := wc.Write(wstest.EncodeAll(frames...)); err != nil {
				t.Fatal(err)
			}
			msgs := <-got
			if len(msgs) != len(want) {
				t.Fatalf("%d messages received, want %d", len(msgs), len(want))
			}
			for i := range want {
				if !bytes.Equal(msgs[i], want[i]) {
					t.Errorf("message %d: %d bytes %.10q…, want %d bytes %.10q…", i, len(msgs[i]), msgs[i], len(want[i]), want[i])
				}
			}
		})
	}
}
