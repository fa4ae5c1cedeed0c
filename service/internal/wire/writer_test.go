package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/protocol"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

type frame struct {
	Op   byte
	Data string
}

// readFrames reads n unmasked final frames.
func readFrames(t *testing.T, r *bufio.Reader, n int) []frame {
	t.Helper()
	var out []frame
	for range n {
		var h [2]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			t.Fatal(err)
		}
		if h[0]&0x80 == 0 || h[1]&0x80 != 0 {
			t.Fatalf("header %x: want final and unmasked", h)
		}
		size := uint64(h[1] & 0x7f)
		switch size {
		case 126:
			var b [2]byte
			_, _ = io.ReadFull(r, b[:])
			size = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			_, _ = io.ReadFull(r, b[:])
			size = binary.BigEndian.Uint64(b[:])
		}
		p := make([]byte, size)
		if _, err := io.ReadFull(r, p); err != nil {
			t.Fatal(err)
		}
		out = append(out, frame{h[0] & 0xf, string(p)})
	}
	return out
}

type msg struct {
	typ  protocol.MessageType
	data []byte
}

func (m msg) Frame() (protocol.MessageType, []byte) { return m.typ, m.data }

// tryWrite is TryWriteFrames of one frame.
func tryWrite(w *Writer, typ protocol.MessageType, data []byte) (begun bool, tail *Tail) {
	n, tail := TryWriteFrames(w, []msg{{typ, data}})
	return n == 1, tail
}

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

func TestWriter(t *testing.T) {
	t.Parallel()
	a, b := tcpPair(t)
	w := NewWriter(a, NewGuard(a, nil, FromClient))
	r := bufio.NewReader(b)
	big := string(bytes.Repeat([]byte("x"), 70000))
	mid := string(bytes.Repeat([]byte("y"), 300))
	if err := w.WriteFrame(protocol.Text, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(protocol.Binary, []byte(big)); err != nil {
		t.Fatal(err)
	}
	batch := []msg{{protocol.Text, []byte("a")}, {protocol.Text, []byte(mid)}, {protocol.Binary, make([]byte, ChunkSize)}}
	n, err := WriteFrames(w, batch)
	if err != nil || n != 2 {
		t.Fatalf("WriteFrames: %d, %v; want the 2 that fit in a chunk", n, err)
	}
	if begun, tail := tryWrite(w, protocol.Text, []byte("tried")); !begun || tail != nil {
		t.Fatalf("TryWriteFrames on an idle socket: begun %v, tail %v", begun, tail)
	}
	want := []frame{{1, "hello"}, {2, big}, {1, "a"}, {1, mid}, {1, "tried"}}
	if diff := cmp.Diff(want, readFrames(t, r, len(want))); diff != "" {
		t.Errorf("frames (-want +got):\n%s", diff)
	}

	if !w.TryLock() {
		t.Fatal("TryLock on a free lock")
	}
	if begun, _ := tryWrite(w, protocol.Text, []byte("x")); begun {
		t.Error("TryWriteFrames wrote while the frame lock was held")
	}
	if w.LockUntil(time.Now().Add(20 * time.Millisecond)) {
		t.Error("LockUntil took a held lock")
	}
	w.SetCloseSent()
	w.Unlock()
	if err := w.WriteFrame(protocol.Text, []byte("x")); !errors.Is(err, ErrCloseSent) {
		t.Errorf("WriteFrame after the close: %v, want ErrCloseSent", err)
	}
	if begun, _ := tryWrite(w, protocol.Text, []byte("x")); begun {
		t.Error("TryWriteFrames wrote after the close")
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
		if !w.TryLock() {
			t.Fatalf("%d-byte frames: frame lock still held after the tail", size)
		}
		w.Unlock()
	}
	if splits == 0 {
		t.Fatal("no frame was split: the test did not exercise WriteTail")
	}
}

// TestWriteFrameOnFullSocket: a frame the socket does not take whole at
// once is finished by waiting, under the deadline set for it: whole when
// the peer reads in time, an os.ErrDeadlineExceeded when it does not.
func TestWriteFrameOnFullSocket(t *testing.T) {
	t.Parallel()
	const size, frames = 3000, 3000 // far more than the buffers hold
	payload := bytes.Repeat([]byte{'w'}, size)
	t.Run("peer reads late", func(t *testing.T) {
		t.Parallel()
		a, b := tcpPair(t)
		_ = a.SetWriteBuffer(4096) // the reader's left as it is: a tiny window stalls loopback TCP
		w := NewWriter(a, NewGuard(a, nil, FromClient))
		got := make(chan []frame, 1)
		go func() {
			time.Sleep(100 * time.Millisecond)
			got <- readFrames(t, bufio.NewReader(b), frames)
		}()
		for i := range frames {
			w.SetDeadline(time.Now().Add(10 * time.Second))
			if err := w.WriteFrame(protocol.Binary, payload); err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
		}
		for i, f := range <-got {
			if f.Op != 2 || f.Data != string(payload) {
				t.Fatalf("frame %d: opcode %d, %d bytes", i, f.Op, len(f.Data))
			}
		}
	})
	t.Run("peer never reads", func(t *testing.T) {
		t.Parallel()
		a, b := tcpPair(t)
		_ = a.SetWriteBuffer(4096)
		_ = b.SetReadBuffer(4096)
		w := NewWriter(a, NewGuard(a, nil, FromClient))
		for i := range 100000 {
			w.SetDeadline(time.Now().Add(100 * time.Millisecond))
			err := w.WriteFrame(protocol.Binary, payload)
			if err == nil {
				continue
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("frame %d: %v, want a deadline error", i, err)
			}
			return
		}
		t.Fatal("writes to a socket nobody reads never timed out")
	})
}
