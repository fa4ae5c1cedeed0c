package wire

import (
	"bufio"
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/protocol"
)

// TestTryWriteFrames writes batches at once on an idle socket: those that
// span several chunks whole, and those with a frame over a chunk up to
// that frame.
func TestTryWriteFrames(t *testing.T) {
	t.Parallel()
	a, b := tcpPair(t)
	w := NewWriter(a, NewGuard(a, nil, FromClient))
	r := bufio.NewReader(b)
	var many []msg
	var want []frame
	for i := range 40 {
		p := bytes.Repeat([]byte{byte('a' + i%26)}, 300+i)
		many = append(many, msg{protocol.Text, p})
		want = append(want, frame{1, string(p)})
	}
	if n, tail := TryWriteFrames(w, many); n != len(many) || tail != nil {
		t.Fatalf("TryWriteFrames of %d frames over several chunks: %d begun, tail %v", len(many), n, tail)
	}
	mixed := []msg{{protocol.Text, []byte("one")}, {protocol.Binary, []byte("two")}, {protocol.Binary, make([]byte, ChunkSize)}, {protocol.Text, []byte("four")}}
	if n, tail := TryWriteFrames(w, mixed); n != 2 || tail != nil {
		t.Fatalf("TryWriteFrames up to a frame over a chunk: %d begun, tail %v; want 2", n, tail)
	}
	if n, _ := TryWriteFrames(w, []msg(nil)); n != 0 {
		t.Errorf("TryWriteFrames of nothing: %d begun", n)
	}
	want = append(want, frame{1, "one"}, frame{2, "two"})
	if diff := cmp.Diff(want, readFrames(t, r, len(want))); diff != "" {
		t.Errorf("frames (-want +got):\n%s", diff)
	}
}

// TestTryWriteWithoutDescriptor checks that TryWriteFrames never writes where
// there is no descriptor to write without blocking.
func TestTryWriteWithoutDescriptor(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	w := NewWriter(a, NewGuard(a, nil, FromClient))
	if begun, _ := tryWrite(w, protocol.Text, []byte("x")); begun {
		t.Error("TryWriteFrames wrote to a pipe")
	}
	if w := NewWriter(a, nil); func() bool { begun, _ := tryWrite(w, protocol.Text, nil); return begun }() {
		t.Error("TryWriteFrames wrote without a guard")
	}
}

// TestTryWriteTail fills a socket until TryWriteFrames takes only part of a
// frame, then checks that WriteTail completes it and that every frame
// arrives whole and in order, for frames of several sizes.
func TestTryWriteTail(t *testing.T) {
	t.Parallel()
	splits := 0
	for _, size := range []int{3000, 1000, 4000, 777, 2049, 123} {
		a, b := tcpPair(t)
		_ = a.SetWriteBuffer(4096)
		_ = b.SetReadBuffer(4096)
		w := NewWriter(a, NewGuard(a, nil, FromClient))
		payload := bytes.Repeat([]byte{byte(size)}, size)
		sent := 0
		var tail *Tail
		for range 100000 {
			var begun bool
			begun, tail = tryWrite(w, protocol.Binary, payload)
			if !begun {
				break // full: nothing of this frame went out
			}
			sent++
			if tail != nil {
				break
			}
		}
		got := make(chan []frame, 1)
		go func() { got <- readFrames(t, bufio.NewReader(b), sent) }()
		if tail != nil {
			splits++
			if err := w.WriteTail(tail, time.Now().Add(10*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		frames := <-got
		for i, f := range frames {
			if f.Op != 2 || f.Data != string(payload) {
				t.Fatalf("%d-byte frames: frame %d of %d: opcode %d, %d bytes", size, i, sent, f.Op, len(f.Data))
			}
		}
		if !w.tryLock() {
			t.Fatalf("%d-byte frames: frame lock still held after the tail", size)
		}
		w.unlock()
	}
	if splits == 0 {
		t.Fatal("no frame was split: the test did not exercise WriteTail")
	}
}
