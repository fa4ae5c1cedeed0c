package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/protocol"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t testing.TB) (*net.TCPConn, *net.TCPConn) {
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

// wireFrame is a frame as a reference decoder reads it, its payload
// unmasked.
type wireFrame struct {
	Fin    bool
	Op     byte
	Masked bool
	Key    [4]byte
	Data   string
}

// decodeFrame reads one frame, as RFC 6455 section 5.2 lays it out.
func decodeFrame(r *bufio.Reader) (wireFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return wireFrame{}, err
	}
	if h[0]&0x70 != 0 {
		return wireFrame{}, fmt.Errorf("header %x: reserved bits set", h)
	}
	f := wireFrame{Fin: h[0]&0x80 != 0, Op: h[0] & 0xf, Masked: h[1]&0x80 != 0}
	size := uint64(h[1] & 0x7f)
	switch size {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return f, err
		}
		size = uint64(binary.BigEndian.Uint16(b[:]))
		if size < 126 {
			return f, fmt.Errorf("length %d in 16 bits", size)
		}
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return f, err
		}
		size = binary.BigEndian.Uint64(b[:])
		if size <= 0xffff || size>>63 != 0 {
			return f, fmt.Errorf("length %d in 64 bits", size)
		}
	}
	if f.Masked {
		if _, err := io.ReadFull(r, f.Key[:]); err != nil {
			return f, err
		}
	}
	p := make([]byte, size)
	if _, err := io.ReadFull(r, p); err != nil {
		return f, err
	}
	if f.Masked {
		for i := range p {
			p[i] ^= f.Key[i%4]
		}
	}
	f.Data = string(p)
	return f, nil
}

// readFrames reads n unmasked final frames.
func readFrames(t *testing.T, r *bufio.Reader, n int) []frame {
	t.Helper()
	var out []frame
	for range n {
		f, err := decodeFrame(r)
		if err != nil {
			t.Error(err)
			return out
		}
		if !f.Fin || f.Masked {
			t.Errorf("frame %d: final %v, masked %v; want final and unmasked", len(out), f.Fin, f.Masked)
		}
		out = append(out, frame{f.Op, f.Data})
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

	if !w.tryLock() {
		t.Fatal("tryLock on a free lock")
	}
	if begun, _ := tryWrite(w, protocol.Text, []byte("x")); begun {
		t.Error("TryWriteFrames wrote while the frame lock was held")
	}
	if w.lockUntil(time.Now().Add(20 * time.Millisecond)) {
		t.Error("lockUntil took a held lock")
	}
	if err := w.WriteControl(OpPing, nil, time.Now().Add(20*time.Millisecond)); err != ErrDeadline {
		t.Errorf("WriteControl while the frame lock is held: %v, want ErrDeadline", err)
	}
	w.unlock()
	if err := w.WriteControl(OpClose, []byte{0x03, 0xe8}, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]frame{{8, "\x03\xe8"}}, readFrames(t, r, 1)); diff != "" {
		t.Errorf("close frame (-want +got):\n%s", diff)
	}
	if err := w.WriteControl(OpPing, nil, time.Now().Add(time.Second)); !errors.Is(err, ErrCloseSent) {
		t.Errorf("WriteControl after the close: %v, want ErrCloseSent", err)
	}
	if err := w.WriteFrame(protocol.Text, []byte("x")); !errors.Is(err, ErrCloseSent) {
		t.Errorf("WriteFrame after the close: %v, want ErrCloseSent", err)
	}
	if begun, _ := tryWrite(w, protocol.Text, []byte("x")); begun {
		t.Error("TryWriteFrames wrote after the close")
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

// TestClientWriter checks a client's writer: every frame masked, each
// with a key of its own, the caller's bytes left as they are, whatever
// the way the frame goes out (a chunk, a batch, pieces of a large frame,
// a control frame).
func TestClientWriter(t *testing.T) {
	t.Parallel()
	a, b := tcpPair(t)
	w := NewWriter(a, NewGuard(a, nil, FromServer))
	payloads := [][]byte{[]byte("hello"), bytes.Repeat([]byte("0123456789"), 7000), bytes.Repeat([]byte("y"), 200000), nil}
	kept := make([][]byte, len(payloads))
	for i, p := range payloads {
		kept[i] = bytes.Clone(p)
	}
	got := make(chan []wireFrame, 1)
	go func() {
		r := bufio.NewReader(b)
		var fs []wireFrame
		for range 7 {
			f, err := decodeFrame(r)
			if err != nil {
				break
			}
			fs = append(fs, f)
		}
		got <- fs
	}()
	w.SetDeadline(time.Now().Add(10 * time.Second))
	for _, p := range payloads {
		if err := w.WriteFrame(protocol.Binary, p); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := WriteFrames(w, []msg{{protocol.Text, []byte("a")}, {protocol.Text, []byte("b")}}); n != 2 || err != nil {
		t.Fatalf("WriteFrames: %d, %v", n, err)
	}
	if err := w.WriteControl(OpPong, []byte("pong"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	fs := <-got
	want := []wireFrame{
		{Fin: true, Op: 2, Masked: true, Data: string(payloads[0])},
		{Fin: true, Op: 2, Masked: true, Data: string(payloads[1])},
		{Fin: true, Op: 2, Masked: true, Data: string(payloads[2])},
		{Fin: true, Op: 2, Masked: true, Data: ""},
		{Fin: true, Op: 1, Masked: true, Data: "a"},
		{Fin: true, Op: 1, Masked: true, Data: "b"},
		{Fin: true, Op: 0xa, Masked: true, Data: "pong"},
	}
	keys := make(map[[4]byte]bool)
	for i := range fs {
		keys[fs[i].Key] = true
		fs[i].Key = [4]byte{}
	}
	if diff := cmp.Diff(want, fs); diff != "" {
		t.Errorf("frames (-want +got):\n%s", diff)
	}
	if len(keys) != len(want) {
		t.Errorf("%d masking keys among %d frames, want one of its own for each", len(keys), len(want))
	}
	for i := range payloads {
		if !bytes.Equal(payloads[i], kept[i]) {
			t.Errorf("payload %d was changed by writing it", i)
		}
	}
}

// TestWriteControlRefuses checks that WriteControl writes only what RFC
// 6455 allows of a control frame.
func TestWriteControlRefuses(t *testing.T) {
	t.Parallel()
	a, b := tcpPair(t)
	w := NewWriter(a, NewGuard(a, nil, FromClient))
	deadline := time.Now().Add(time.Second)
	for _, tc := range []struct {
		name    string
		op      Opcode
		payload []byte
	}{
		{"a data opcode", OpText, nil},
		{"a continuation", OpContinuation, nil},
		{"a reserved opcode", 0xb, nil},
		{"126 bytes", OpPing, make([]byte, 126)},
	} {
		if err := w.WriteControl(tc.op, tc.payload, deadline); err != ErrControl {
			t.Errorf("%s: %v, want ErrControl", tc.name, err)
		}
	}
	if err := w.WriteControl(OpPing, make([]byte, 125), deadline); err != nil {
		t.Fatalf("a ping of 125 bytes: %v", err)
	}
	f, err := decodeFrame(bufio.NewReader(b))
	if err != nil || f.Op != byte(OpPing) || len(f.Data) != 125 {
		t.Errorf("read %+v, %v; want only the ping of 125 bytes", f, err)
	}
}

// FuzzWriter writes a sequence of messages, whole and piece by piece,
// from a server's or a client's writer over loopback TCP, and reads them
// back with the reference decoder: each message arrives whole, in order,
// in frames masked as the side requires.
func FuzzWriter(f *testing.F) {
	f.Add([]byte{10, 200, 3, 0, 255, 254, 1}, false)
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, true)
	f.Add([]byte{255, 253, 255, 251, 255}, true)
	a, b := tcpPair(f)
	server, client := NewWriter(a, NewGuard(a, nil, FromClient)), NewWriter(a, NewGuard(a, nil, FromServer))
	r := bufio.NewReader(b)
	f.Fuzz(func(t *testing.T, ops []byte, masked bool) {
		w := server
		if masked {
			w = client
		}
		// Each op byte makes a message: its low bit says whole or in
		// pieces, the rest its size, scaled so that some cross a chunk
		// or a big chunk; pieces are of sizes from the next bytes.
		type message struct {
			data   []byte
			pieces []int // nil: whole
		}
		var ms []message
		for i, op := range ops[:min(len(ops), 16)] {
			n := int(op>>1) * int(op>>1) * 5
			m := message{data: bytes.Repeat([]byte{byte(i)}, n)}
			for j := range m.data {
				m.data[j] += byte(j)
			}
			if op&1 == 1 {
				for k, rest := i+1, n; rest > 0; k++ {
					p := min(rest, int(ops[k%len(ops)])*40+1)
					m.pieces = append(m.pieces, p)
					rest -= p
				}
			}
			ms = append(ms, m)
		}
		done := make(chan error, 1)
		go func() {
			w.SetDeadline(time.Now().Add(10 * time.Second))
			for _, m := range ms {
				if m.pieces == nil {
					if err := w.WriteFrame(protocol.Binary, m.data); err != nil {
						done <- err
						return
					}
					continue
				}
				s, rest := w.Stream(protocol.Binary), m.data
				for _, p := range m.pieces {
					if _, err := s.Write(rest[:p]); err != nil {
						done <- err
						return
					}
					rest = rest[p:]
				}
				if err := s.Close(); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for i, m := range ms {
			fs, err := readMessage(r)
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			var data []byte
			for _, f := range fs {
				if f.Masked != masked {
					t.Fatalf("message %d: a frame masked %v, want %v", i, f.Masked, masked)
				}
				data = append(data, f.Data...)
			}
			if !bytes.Equal(data, m.data) {
				t.Fatalf("message %d: %d bytes, want %d as written", i, len(data), len(m.data))
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkWriteFrame measures writing whole messages as single frames
// to loopback TCP, read and discarded by another goroutine, from a
// server's writer and from a client's, which masks each frame with a key
// of its own.
func BenchmarkWriteFrame(b *testing.B) {
	for _, side := range []struct {
		name string
		peer Peer
	}{{"server", FromClient}, {"client", FromServer}} {
		for _, size := range []int{128, 4096, 65536} {
			b.Run(fmt.Sprintf("%s/size=%d", side.name, size), func(b *testing.B) {
				a, r := tcpPair(b)
				go func() { _, _ = io.Copy(io.Discard, r) }()
				w := NewWriter(a, NewGuard(a, nil, side.peer))
				w.SetDeadline(time.Now().Add(time.Minute))
				p := make([]byte, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if err := w.WriteFrame(protocol.Binary, p); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkStream measures writing a 64 KiB message in pieces of 512
// bytes, as an encoder writing to a Writer does.
func BenchmarkStream(b *testing.B) {
	for _, side := range []struct {
		name string
		peer Peer
	}{{"server", FromClient}, {"client", FromServer}} {
		b.Run(side.name, func(b *testing.B) {
			a, r := tcpPair(b)
			go func() { _, _ = io.Copy(io.Discard, r) }()
			w := NewWriter(a, NewGuard(a, nil, side.peer))
			w.SetDeadline(time.Now().Add(time.Minute))
			p := make([]byte, 512)
			b.SetBytes(128 * 512)
			b.ReportAllocs()
			for b.Loop() {
				s := w.Stream(protocol.Binary)
				for range 128 {
					if _, err := s.Write(p); err != nil {
						b.Fatal(err)
					}
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
