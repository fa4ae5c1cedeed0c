package wire

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/protocol"
)

// readMessage reads frames until a final one, and returns them.
func readMessage(r *bufio.Reader) ([]wireFrame, error) {
	var fs []wireFrame
	for {
		f, err := decodeFrame(r)
		if err != nil {
			return fs, err
		}
		fs = append(fs, f)
		if f.Fin && f.Op < 0x8 {
			return fs, nil
		}
	}
}

// TestStream writes messages piece by piece, from a server and from a
// client, and reads them with the reference decoder: the first frame has
// the message's type, the others are continuations, the last alone is
// final, a client's are masked and a server's not, small pieces are
// gathered into frames of up to a chunk, and the payload arrives whole.
func TestStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		pieces []int
		frames []int // the payload length of each frame
	}{
		{"empty", nil, []int{0}},
		{"one small piece", []int{10}, []int{10}},
		{"small pieces gathered", []int{10, 20, 30}, []int{60}},
		{"a chunk's worth", []int{streamRoom}, []int{streamRoom, 0}},
		{"a chunk's worth, gathered", []int{streamRoom - 1, 1}, []int{streamRoom}},
		{"gathered past a chunk", []int{4000, 4000, 4000}, []int{streamRoom, streamRoom, 12000 - 2*streamRoom}},
		{"a large piece after small ones", []int{100, 70000, 3}, []int{streamRoom, 100 + 70000 - streamRoom, 3}},
		{"large pieces", []int{70000, 200000}, []int{70000, 200000, 0}},
	}
	for _, side := range []Peer{FromClient, FromServer} {
		masked := side == FromServer // a client's writer: its guard reads a server's frames
		for _, tt := range tests {
			a, b := tcpPair(t)
			w := NewWriter(a, NewGuard(a, nil, side))
			var want []byte
			got := make(chan []wireFrame, 1)
			errc := make(chan error, 1)
			go func() {
				fs, err := readMessage(bufio.NewReader(b))
				got <- fs
				errc <- err
			}()
			w.SetDeadline(time.Now().Add(10 * time.Second))
			s := w.Stream(protocol.Text)
			for i, n := range tt.pieces {
				p := bytes.Repeat([]byte{byte('a' + i)}, n)
				for j := range p {
					p[j] += byte(j % 5)
				}
				orig := bytes.Clone(p)
				if k, err := s.Write(p); k != n || err != nil {
					t.Fatalf("%s: Write of %d bytes: %d, %v", tt.name, n, k, err)
				}
				if !bytes.Equal(p, orig) {
					t.Fatalf("%s: Write changed the caller's bytes", tt.name)
				}
				want = append(want, p...)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("%s: Close: %v", tt.name, err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("%s: a second Close: %v", tt.name, err)
			}
			if _, err := s.Write([]byte("x")); err == nil {
				t.Errorf("%s: Write after Close succeeded", tt.name)
			}
			fs := <-got
			if err := <-errc; err != nil {
				t.Fatalf("%s: reading: %v", tt.name, err)
			}
			var data []byte
			var lens []int
			for i, f := range fs {
				wantOp := byte(0)
				if i == 0 {
					wantOp = byte(OpText)
				}
				if f.Op != wantOp || f.Fin != (i == len(fs)-1) || f.Masked != masked {
					t.Errorf("%s (masked %v): frame %d: opcode %d, final %v, masked %v", tt.name, masked, i, f.Op, f.Fin, f.Masked)
				}
				data = append(data, f.Data...)
				lens = append(lens, len(f.Data))
			}
			if !bytes.Equal(data, want) {
				t.Errorf("%s (masked %v): the message's %d bytes differ from the %d written", tt.name, masked, len(data), len(want))
			}
			if diff := cmp.Diff(tt.frames, lens); diff != "" {
				t.Errorf("%s (masked %v): frame lengths (-want +got):\n%s", tt.name, masked, diff)
			}
		}
	}
}

// TestStreamControlBetweenFrames checks that a control frame can go out
// between two frames of a message being written.
func TestStreamControlBetweenFrames(t *testing.T) {
	t.Parallel()
	a, b := tcpPair(t)
	w := NewWriter(a, NewGuard(a, nil, FromClient))
	w.SetDeadline(time.Now().Add(10 * time.Second))
	s := w.Stream(protocol.Binary)
	first := bytes.Repeat([]byte{'1'}, streamRoom+10)
	if _, err := s.Write(first); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteControl(OpPing, []byte("between"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("last")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fs, err := readMessage(bufio.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	want := []wireFrame{
		{Op: byte(OpBinary), Data: string(first)},
		{Fin: true, Op: byte(OpPing), Data: "between"},
		{Fin: true, Op: 0, Data: "last"},
	}
	if diff := cmp.Diff(want, fs); diff != "" {
		t.Errorf("frames (-want +got):\n%s", diff)
	}
}

// TestStreamBrokenByDeadline checks that a frame the peer does not take
// before the deadline breaks the stream: Write and Close return the
// deadline's error from then on, and the chunk is given back.
func TestStreamBrokenByDeadline(t *testing.T) {
	t.Parallel()
	a, b := tcpPair(t)
	_ = a.SetWriteBuffer(4096)
	_ = b.SetReadBuffer(4096)
	w := NewWriter(a, NewGuard(a, nil, FromClient))
	w.SetDeadline(time.Now().Add(100 * time.Millisecond))
	s := w.Stream(protocol.Binary)
	piece := make([]byte, 1000)
	var err error
	for range 100000 {
		if _, err = s.Write(piece); err != nil {
			break
		}
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write to a peer that reads nothing: %v, want a deadline error", err)
	}
	if s.buf != nil {
		t.Error("a broken stream holds its chunk")
	}
	if _, err := s.Write(piece); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Write after the failure: %v, want the failure's error", err)
	}
	if err := s.Close(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Close after the failure: %v, want the failure's error", err)
	}
}
