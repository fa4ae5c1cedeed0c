package service

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service/internal/wire"
)

// TestPipelinedMessagesAcrossChunks sends messages of sizes around the
// read buffers' edges in one write, so that frames straddle the chunks
// the server reads the socket in, and checks every echo byte for byte,
// with Recv and RecvInto in turn.
func TestPipelinedMessagesAcrossChunks(t *testing.T) {
	t.Parallel()
	sizes := []int{0, 1, 125, 126, 127, wire.ReadBufferSize - 8, wire.ReadBufferSize, wire.ReadBufferSize + 1,
		wire.ChunkSize - 14, wire.ChunkSize - 1, wire.ChunkSize, wire.ChunkSize + 1, 3*wire.ChunkSize + 5, 65535, 65536, 100000,
		wire.BigChunkSize - 14, wire.BigChunkSize + 1, 2*wire.BigChunkSize + 3, 2, 3}
	_, addr := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
		var buf []byte
		for i := 0; ; i++ {
			var typ protocol.MessageType
			var data []byte
			var err error
			if i%2 == 0 {
				typ, data, err = c.Recv(ctx)
			} else {
				typ, data, err = c.RecvInto(ctx, buf)
				buf = data
			}
			if err != nil {
				return err
			}
			if err := c.Send(ctx, typ, data); err != nil {
				return err
			}
		}
	})
	rc := rawDial(t, addr)
	var burst []byte
	var want [][]byte
	for i, n := range sizes {
		p := bytes.Repeat([]byte{byte('a' + i)}, n)
		for j := range p {
			p[j] += byte(j % 7)
		}
		want = append(want, p)
		burst = append(burst, wstest.Encode(wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Payload: p})...)
	}
	// And a message in 40 frames of 3,000 bytes, as clients that
	// fragment what they send write it.
	frag := make([]byte, 40*3000)
	for j := range frag {
		frag[j] = byte(j % 251)
	}
	want = append(want, frag)
	for i := 0; i < len(frag); i += 3000 {
		op := byte(wstest.OpBinary)
		if i > 0 {
			op = 0
		}
		burst = append(burst, wstest.Encode(wstest.Frame{Fin: i+3000 == len(frag), Opcode: op, Payload: frag[i : i+3000]})...)
	}
	if _, err := rc.Write(burst); err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		op, got, err := rc.ReadMessage(5 * time.Second)
		if err != nil {
			t.Fatalf("message %d (%d bytes): %v", i, len(w), err)
		}
		if op != wstest.OpBinary || !bytes.Equal(got, w) {
			t.Fatalf("message %d: got opcode %d, %d bytes, want %d bytes as sent", i, op, len(got), len(w))
		}
	}
}

// TestIdleConnHoldsNoReadBuffer checks that between messages a server
// connection over TCP holds no read chunk, and waits on the socket
// itself.
func TestIdleConnHoldsNoReadBuffer(t *testing.T) {
	t.Parallel()
	report := make(chan string, 3)
	url, _ := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
		for {
			_, _, err := c.Recv(ctx)
			if err != nil {
				return err
			}
			// Only the reader touches the guard, and this goroutine
			// holds the reader role until its next Recv.
			g := c.guard
			report <- fmt.Sprintf("reads the socket directly: %v, holds a chunk: %v", g.ReadsDirectly(), g.HoldsChunk())
		}
	})
	c := dial(t, url, nil)
	for _, n := range []int{10, 5000, 300000, 100} {
		if err := c.Send(context.Background(), protocol.Binary, make([]byte, n)); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-report:
			if want := "reads the socket directly: true, holds a chunk: false"; got != want {
				t.Fatalf("after a %d-byte message: %s, want %s", n, got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no message")
		}
	}
}

// TestOneCloseFrameForGorillasFindings sends violations that gorilla, not
// the frame guard, finds while reading (a frame out of the sequence of a
// fragmented message, a close frame with a bad code or reason), with and
// without compression, and checks that the server answers with exactly
// one close frame, 1002 with the violation as its reason, and then ends
// the connection: where the frame writer writes the frames, gorilla's own
// close frame is refused by the guard and the reader's goes out through
// the frame writer; where gorilla writes them, gorilla's is the one.
func TestOneCloseFrameForGorillasFindings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		frames []wstest.Frame
		reason string
	}{
		{"continuation without a start", []wstest.Frame{{Fin: true, Opcode: wstest.OpContinuation, Payload: []byte("x")}}, "continuation after FIN"},
		{"a message inside a fragmented one", []wstest.Frame{{Opcode: wstest.OpText, Payload: []byte("a")}, {Fin: true, Opcode: wstest.OpText, Payload: []byte("b")}}, "data before FIN"},
		{"close code 999", []wstest.Frame{{Fin: true, Opcode: wstest.OpClose, Payload: []byte{0x03, 0xe7}}}, "bad close code 999"},
		{"close reason not UTF-8", []wstest.Frame{{Fin: true, Opcode: wstest.OpClose, Payload: []byte{0x03, 0xe8, 0xff}}}, "invalid utf8 payload in close frame"},
	}
	for _, compressed := range []bool{false, true} {
		_, addr := serveFunc(t, Options{Compression: compressed}, func(ctx context.Context, c *Conn) error {
			for {
				if _, _, err := c.Recv(ctx); err != nil {
					return err
				}
			}
		})
		var headers []string
		if compressed {
			headers = []string{"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover"}
		}
		for _, tt := range tests {
			rc := rawDial(t, addr, headers...)
			for _, f := range tt.frames {
				if err := rc.WriteFrame(f); err != nil {
					t.Fatal(err)
				}
			}
			var closes []string
			for {
				f, err := rc.ReadFrame(5 * time.Second)
				if err != nil {
					break // the server ended the connection
				}
				if f.Opcode == wstest.OpClose {
					closes = append(closes, fmt.Sprintf("%d %s", f.CloseCode(), f.CloseReason()))
				}
			}
			if diff := cmp.Diff([]string{"1002 " + tt.reason}, closes); diff != "" {
				t.Errorf("%s (compressed %v): close frames (-want +got):\n%s", tt.name, compressed, diff)
			}
		}
	}
}

// TestFailureEndsWithoutReset sends a frame the guard refuses followed by
// bytes the server never reads, and checks that the close frame arrives
// and the server then ends the connection with a FIN and no reset: the
// bytes nobody read are dropped before the socket is closed, so that the
// peer's socket is still whole once the connection has ended (a write to
// it goes out, where after a reset it fails with EPIPE), and a peer that
// loses what it received on a reset (as some systems' stacks do) still
// reads the close frame.
func TestFailureEndsWithoutReset(t *testing.T) {
	t.Parallel()
	_, addr := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
		_, _, err := c.Recv(ctx)
		return err
	})
	for i := range 5 {
		rc := rawDial(t, addr)
		burst := wstest.Encode(wstest.Frame{Fin: true, RSV: 2, Opcode: wstest.OpText, Payload: []byte("bad")})
		burst = append(burst, make([]byte, 8<<10)...)
		if _, err := rc.Write(burst); err != nil {
			t.Fatal(err)
		}
		f, err := rc.ReadFrame(5 * time.Second)
		if err != nil || f.Opcode != wstest.OpClose || f.CloseCode() != 1002 {
			t.Fatalf("connection %d: read %+v, %v; want the close frame, 1002", i, f, err)
		}
		if _, err := rc.ReadFrame(5 * time.Second); err != io.EOF {
			t.Fatalf("connection %d: after the close frame: %v, want io.EOF", i, err)
		}
		time.Sleep(50 * time.Millisecond) // for a reset, if one was sent, to arrive
		if _, err := rc.Write([]byte{0}); err != nil {
			t.Errorf("connection %d: a write once the server has closed: %v; the server reset the connection", i, err)
		}
	}
}
