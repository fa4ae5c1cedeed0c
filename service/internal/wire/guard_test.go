package wire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
)

// chunkConn is a byte source that returns at most chunk bytes a read.
type chunkConn struct {
	net.Conn // unused; only Read is called
	data     []byte
	chunk    int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), c.chunk, len(c.data))
	n = copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// guardOpts are a guard's settings in a test.
type guardOpts struct {
	peer       Peer
	limit      int64
	compressed bool
}

// response101 is the response a client's guard reads before frames.
const response101 = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"

// guarded reads data through a Guard whose source returns chunk bytes at
// a time, the first pending ones as if the HTTP server had read them, and
// returns what the guard let through and its error. A client's guard
// reads a 101 response first, which is left out of what it returns.
func guarded(data []byte, chunk, pending int, o guardOpts) ([]byte, error) {
	if o.peer != FromServer {
		return guardedRaw(data, chunk, pending, o)
	}
	out, err := guardedRaw(append([]byte(response101), data...), chunk, pending, o)
	if len(out) < len(response101) {
		return nil, err
	}
	return out[len(response101):], err
}

// guardedRaw is guarded without a response.
func guardedRaw(data []byte, chunk, pending int, o guardOpts) ([]byte, error) {
	pending = min(pending, len(data))
	g := NewGuard(&chunkConn{data: data[pending:], chunk: chunk}, data[:pending], o.peer)
	g.Configure(o.limit, o.compressed)
	var out []byte
	buf := make([]byte, 4096)
	// Reads of these sizes in turn: whole chunks, and the small reads
	// of gorilla's reader that are served from a pooled chunk. Sources
	// that return a few bytes at a time are read whole only: every small
	// read from them would take a fresh chunk, which makes the test
	// slow under the race detector without covering anything more.
	sizes := []int{4096, 7, ReadBufferSize, 3000, 64}
	if chunk < 64 {
		sizes = sizes[:1]
	}
	for i := 0; ; i++ {
		n, err := g.Read(buf[:sizes[i%len(sizes)]])
		out = append(out, buf[:n]...)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return out, err
		}
	}
}

// walk is the reference: it parses data whole, frame by frame, and
// returns the length of the prefix the guard must let through and the
// violation it must report, if any.
func walk(data []byte, o guardOpts) (int, *FrameError) {
	var msgLen uint64
	pos := 0
	for pos+2 <= len(data) {
		b0, b1 := data[pos], data[pos+1]
		n := headerSize(b1)
		if pos+n > len(data) {
			break
		}
		length, err := check(b0, b1, data[pos+2:pos+n], o.peer == FromClient, o.compressed)
		if err != nil {
			return pos, err
		}
		if op := b0 & 0xf; op < 8 {
			if op != 0 {
				msgLen = 0
			}
			msgLen += length
			if o.limit > 0 && msgLen > uint64(o.limit) {
				return pos, &FrameError{protocol.CloseMessageTooBig, ""}
			}
		}
		if length > uint64(len(data)-pos-n) {
			break
		}
		pos += n + int(length)
	}
	return len(data), nil
}

// passedPrefix reports whether got is what the guard may let through of
// data when the reference stops at want: exactly data[:want] without a
// violation; with one, data[:want] and possibly the first bytes of the
// offending frame's header, never the whole header.
func passedPrefix(got, data []byte, want int, violation bool) bool {
	if len(got) < want || !bytes.Equal(got, data[:len(got)]) {
		return false
	}
	if !violation {
		return len(got) == want
	}
	extra := len(got) - want
	return extra == 0 || extra < 2 || extra < headerSize(data[want+1])
}

func frames(fs ...wstest.Frame) []byte { return wstest.EncodeAll(fs...) }

// unmasked encodes frames as a server sends them.
func unmasked(fs ...wstest.Frame) []byte {
	var b []byte
	for _, f := range fs {
		b = append(b, wstest.EncodeLen(f, uint64(len(f.Payload)), false)...)
	}
	return b
}

// TestCheck checks each header rule on its own, and that the guard
// leaves to gorilla what gorilla refuses by itself (rows marked
// "gorilla's").
func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		f          wstest.Frame
		length     uint64 // declared, if not the payload's
		peer       Peer
		compressed bool
		want       string // the reason; "" for a valid header
	}{
		{"text from a client", wstest.Frame{Fin: true, Opcode: wstest.OpText}, 0, FromClient, false, ""},
		{"text from a server", wstest.Frame{Fin: true, Opcode: wstest.OpText}, 0, FromServer, false, ""},
		{"unmasked from a client: gorilla's", wstest.Frame{Fin: true, Opcode: wstest.OpText}, 0, FromServer + 10, false, ""},
		{"masked from a server", wstest.Frame{Fin: true, Opcode: wstest.OpText}, 0, FromServer + 20, false, "masked frame from a server"},
		{"RSV2", wstest.Frame{Fin: true, RSV: 2, Opcode: wstest.OpText}, 0, FromClient, true, "RSV2 or RSV3 set"},
		{"RSV3", wstest.Frame{Fin: true, RSV: 1, Opcode: wstest.OpBinary}, 0, FromServer, true, "RSV2 or RSV3 set"},
		{"RSV1 compressed", wstest.Frame{Fin: true, RSV: 4, Opcode: wstest.OpText}, 0, FromClient, true, ""},
		{"RSV1 uncompressed: gorilla's", wstest.Frame{Fin: true, RSV: 4, Opcode: wstest.OpText}, 0, FromServer, false, ""},
		{"RSV1 on a ping, uncompressed: gorilla's", wstest.Frame{Fin: true, RSV: 4, Opcode: wstest.OpPing}, 0, FromClient, false, ""},
		{"RSV1 on a ping", wstest.Frame{Fin: true, RSV: 4, Opcode: wstest.OpPing}, 0, FromClient, true, "RSV1 set on a control frame"},
		{"RSV1 on a continuation", wstest.Frame{Fin: true, RSV: 4, Opcode: wstest.OpContinuation}, 0, FromClient, true, "RSV1 set on a continuation frame"},
		{"opcode 3", wstest.Frame{Fin: true, Opcode: 3}, 0, FromClient, false, "reserved opcode 3"},
		{"opcode 0xB", wstest.Frame{Fin: true, Opcode: 0xB}, 0, FromServer, false, "reserved opcode 11"},
		{"fragmented ping: gorilla's", wstest.Frame{Opcode: wstest.OpPing}, 0, FromClient, false, ""},
		{"ping of 125", wstest.Frame{Fin: true, Opcode: wstest.OpPing, Payload: make([]byte, 125)}, 0, FromServer, false, ""},
		{"ping of 126", wstest.Frame{Fin: true, Opcode: wstest.OpPing, Payload: make([]byte, 126)}, 0, FromServer, false, "control frame longer than 125 bytes"},
		{"close of 2^16", wstest.Frame{Fin: true, Opcode: wstest.OpClose}, 1 << 16, FromClient, false, "control frame longer than 125 bytes"},
		{"length 2^63", wstest.Frame{Fin: true, Opcode: wstest.OpBinary}, 1 << 63, FromServer, false, "frame length has its most significant bit set"},
		{"length 2^63-1", wstest.Frame{Fin: true, Opcode: wstest.OpBinary}, 1<<63 - 1, FromServer, false, ""},
	}
	for _, tt := range tests {
		n := tt.length
		if n == 0 {
			n = uint64(len(tt.f.Payload))
		}
		// The two odd peers stand for the wrong masking of each side.
		peer, masked := tt.peer, tt.peer == FromClient
		switch peer {
		case FromServer + 10:
			peer, masked = FromClient, false
		case FromServer + 20:
			peer, masked = FromServer, true
		}
		wire := wstest.EncodeLen(tt.f, n, masked)
		_, err := check(wire[0], wire[1], wire[2:headerSize(wire[1])], peer == FromClient, tt.compressed)
		got := ""
		if err != nil {
			got = err.Reason
			if err.Code != protocol.CloseProtocolError {
				t.Errorf("%s: code %d, want 1002", tt.name, err.Code)
			}
		}
		if got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestGuard(t *testing.T) {
	t.Parallel()
	valid := frames(
		wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("hello")},
		wstest.Frame{Fin: true, Opcode: wstest.OpPing, Payload: make([]byte, 125)},
		wstest.Frame{Opcode: wstest.OpBinary, Payload: make([]byte, 126)},
		wstest.Frame{Opcode: wstest.OpContinuation, Payload: make([]byte, 65535)},
		wstest.Frame{Fin: true, Opcode: wstest.OpPong},
		wstest.Frame{Fin: true, Opcode: wstest.OpContinuation, Payload: make([]byte, 65536)},
		wstest.Frame{Fin: true, RSV: 4, Opcode: wstest.OpText, Payload: []byte("compressed")},
	)
	tests := []struct {
		name   string
		lead   []byte // frames that pass before the offending one
		bad    []byte
		limit  int64
		code   protocol.CloseCode
		reason string
	}{
		{"valid frames only", nil, nil, 0, 0, ""},
		{"RSV1 on a ping", nil, frames(wstest.Frame{Fin: true, RSV: 4, Opcode: wstest.OpPing}), 0, 1002, "RSV1 set on a control frame"},
		{"RSV1 on a close", nil, frames(wstest.Frame{Fin: true, RSV: 4, Opcode: wstest.OpClose}), 0, 1002, "RSV1 set on a control frame"},
		{"RSV1 on a continuation", frames(wstest.Frame{Opcode: wstest.OpText, RSV: 4}), frames(wstest.Frame{Fin: true, RSV: 4}), 0, 1002, "RSV1 set on a continuation frame"},
		{"length with the top bit", nil, wstest.EncodeLen(wstest.Frame{Fin: true, Opcode: wstest.OpBinary}, 1<<63, true), 0, 1002, "frame length has its most significant bit set"},
		{"one frame over the limit", nil, wstest.EncodeLen(wstest.Frame{Fin: true, Opcode: wstest.OpBinary}, 1<<40, true), 1 << 20, 1009, "message too big: 1099511627776 bytes, limit 1048576"},
		{"fragments over the limit", frames(
			wstest.Frame{Opcode: wstest.OpText, Payload: make([]byte, 600000)},
			wstest.Frame{Fin: true, Opcode: wstest.OpPing, Payload: make([]byte, 100)},
		), frames(wstest.Frame{Fin: true, Opcode: wstest.OpContinuation, Payload: make([]byte, 600000)}),
			1 << 20, 1009, "message too big: 1200000 bytes, limit 1048576"},
	}
	for _, tt := range tests {
		data := append(append(append([]byte(nil), valid...), tt.lead...), tt.bad...)
		o := guardOpts{peer: FromClient, limit: tt.limit, compressed: true}
		// What must pass: everything, or what comes before the offending
		// frame, plus at most the part of its header that earlier reads
		// passed before the header was complete.
		wantPass := len(data) - len(tt.bad)
		if ref, _ := walk(data, o); ref != wantPass && tt.code != 0 {
			t.Fatalf("%s: the reference stops at %d, want %d", tt.name, ref, wantPass)
		}
		for _, chunk := range []int{1, 2, 3, 7, 13, 64, 4096, len(data)} {
			for _, pending := range []int{0, 5, 200} {
				got, err := guarded(data, chunk, pending, o)
				if !passedPrefix(got, data, wantPass, err != nil) {
					t.Errorf("%s (chunks of %d, %d pending): passed %d bytes, want the first %d", tt.name, chunk, pending, len(got), wantPass)
				}
				var fe *FrameError
				switch {
				case tt.code == 0 && err != nil:
					t.Errorf("%s (chunks of %d): error %v", tt.name, chunk, err)
				case tt.code != 0 && (!errors.As(err, &fe) || fe.Code != tt.code || fe.Reason != tt.reason):
					t.Errorf("%s (chunks of %d): error %v, want %d %q", tt.name, chunk, err, tt.code, tt.reason)
				}
			}
		}
	}
}

// TestClientGuard checks a client's guard: the HTTP response passes
// untouched, frames after a 101 response's header are followed, and a
// refusal's body is never read as frames.
func TestClientGuard(t *testing.T) {
	t.Parallel()
	const ok = response101
	const lf = "HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\n\n"
	tests := []struct {
		name  string
		data  []byte
		pass  int    // bytes let through; -1 for all
		error string // the violation, if any
	}{
		{"response alone", []byte(ok), -1, ""},
		{"frames after the header", append([]byte(ok), unmasked(wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("hi")})...), -1, ""},
		{"masked frame after the header", append([]byte(ok), frames(wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("hi")})...), len(ok), "masked frame from a server"},
		{"LF line endings", append([]byte(lf), unmasked(wstest.Frame{Fin: true, RSV: 2, Opcode: wstest.OpText})...), len(lf), "RSV2 or RSV3 set"},
		{"a refusal's body is not frames", []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 6\r\n\r\n\x89\xff\x00\x00\x00\x00"), -1, ""},
		{"a 101 mentioned in a header is not the status", []byte("HTTP/1.1 400 Bad Request\r\nX: HTTP/1.1 101\r\n\r\n\x89\xff"), -1, ""},
	}
	for _, tt := range tests {
		pass := tt.pass
		if pass < 0 {
			pass = len(tt.data)
		}
		for _, chunk := range []int{1, 3, 17, 4096} {
			got, err := guardedRaw(tt.data, chunk, 0, guardOpts{peer: FromServer, limit: 1 << 20})
			var reason string
			var fe *FrameError
			if errors.As(err, &fe) {
				reason = fe.Reason
			} else if err != nil {
				reason = err.Error()
			}
			if diff := cmp.Diff(tt.error, reason); diff != "" {
				t.Errorf("%s (chunks of %d): error (-want +got):\n%s", tt.name, chunk, diff)
			}
			if !passedPrefix(got, tt.data, pass, err != nil) {
				t.Errorf("%s (chunks of %d): passed %d bytes, want the first %d", tt.name, chunk, len(got), pass)
			}
		}
	}
}

// FuzzGuard feeds arbitrary streams through the guard in chunks of every
// size and checks it against the whole-buffer reference: the same prefix
// let through, the same violation, whatever the chunking.
func FuzzGuard(f *testing.F) {
	f.Add(frames(wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("hi")}), uint8(1), uint8(0), uint16(0), uint8(0))
	f.Add(frames(wstest.Frame{Fin: true, RSV: 4, Opcode: wstest.OpPing}), uint8(3), uint8(1), uint16(0), uint8(1))
	f.Add(wstest.EncodeLen(wstest.Frame{Fin: true, Opcode: wstest.OpBinary}, 1<<63, true), uint8(2), uint8(4), uint16(10), uint8(0))
	f.Add(frames(wstest.Frame{Opcode: wstest.OpText, Payload: make([]byte, 130)}, wstest.Frame{Fin: true, Payload: make([]byte, 70000)}), uint8(7), uint8(9), uint16(1000), uint8(3))
	f.Add(unmasked(wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("hi")}), uint8(5), uint8(0), uint16(0), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, chunk, pending uint8, limit uint16, mode uint8) {
		o := guardOpts{peer: Peer(mode & 1), limit: int64(limit), compressed: mode&2 != 0}
		wantPass, wantErr := walk(data, o)
		got, err := guarded(data, int(chunk)+1, int(pending), o)
		if !passedPrefix(got, data, wantPass, wantErr != nil) {
			t.Fatalf("passed %d bytes, the reference %d", len(got), wantPass)
		}
		var fe *FrameError
		switch {
		case wantErr == nil && err != nil:
			t.Fatalf("error %v, the reference none", err)
		case wantErr != nil && (!errors.As(err, &fe) || fe.Code != wantErr.Code):
			t.Fatalf("error %v, the reference %d %q", err, wantErr.Code, wantErr.Reason)
		}
	})
}

// FuzzResponseScan checks that the end of a response's header is found
// where net/http finds it, in any chunking.
func FuzzResponseScan(f *testing.F) {
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nA: b\r\n\r\nrest"), uint8(1))
	f.Add([]byte("HTTP/1.1 101 x\n\nrest"), uint8(3))
	f.Add([]byte("HTTP/1.1 200 OK\r\nA: b\r\r\n\r\n"), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		var whole respScan
		end, done := whole.scan(data)
		var parts respScan
		step := int(chunk)%16 + 1
		pos, pend, pdone := 0, 0, false
		for pos < len(data) && !pdone {
			k := min(step, len(data)-pos)
			var e int
			e, pdone = parts.scan(data[pos : pos+k])
			pend = pos + e
			pos += k
		}
		if done != pdone || (done && end != pend) || whole.switching != parts.switching {
			t.Fatalf("whole: end %d, done %v, 101 %v; in chunks of %d: end %d, done %v, 101 %v", end, done, whole.switching, step, pend, pdone, parts.switching)
		}
	})
}

// countingConn is a socket that holds all of data: each read returns as
// much as it asks for, and is counted.
type countingConn struct {
	net.Conn // unused; only Read is called
	data     []byte
	reads    int
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads++
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.data)
	c.data = c.data[n:]
	return n, nil
}

// TestGuardReadsBurstsWhole checks that once a read has filled its
// buffer, the guard reads the socket a big chunk at a time: a 64 KiB
// message in frames of 4 KiB, read as gorilla reads it (a small buffered
// reader for headers, payloads read straight into the message), costs a
// few reads of the socket, not one or two a frame; and the bytes come
// through as sent.
func TestGuardReadsBurstsWhole(t *testing.T) {
	var fs []wstest.Frame
	for i := range 16 {
		op := byte(wstest.OpBinary)
		if i > 0 {
			op = 0
		}
		p := bytes.Repeat([]byte{byte('a' + i)}, 4096)
		fs = append(fs, wstest.Frame{Fin: i == 15, Opcode: op, Payload: p})
	}
	data := frames(fs...)
	sock := &countingConn{data: data}
	g := NewGuard(sock, nil, FromClient)
	var out []byte
	hdr := make([]byte, ReadBufferSize)
	payload := make([]byte, 4096)
	for len(out) < len(data) {
		// A header through the small reader, then the payload whole.
		n, err := g.Read(hdr[:min(ReadBufferSize, headerSize(data[len(out)+1]))])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, hdr[:n]...)
		for want := len(out) + 4096; len(out) < want; {
			n, err := g.Read(payload[:want-len(out)])
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, payload[:n]...)
		}
	}
	if !bytes.Equal(out, data) {
		t.Fatal("the bytes read differ from those sent")
	}
	if sock.reads > 4 {
		t.Errorf("read the socket %d times for a message of %d bytes in 16 frames, want at most 4", sock.reads, len(data))
	}
	if g.HoldsChunk() {
		t.Error("holds a read buffer once every byte is read")
	}
}

// TestGuardRefusesWritesOnceOwned checks that a guard passes writes and
// write deadlines to the connection until a Writer is made over it, and
// then refuses them, writing nothing, so that the Writer's frames are the
// only bytes written after the handshake.
func TestGuardRefusesWritesOnceOwned(t *testing.T) {
	t.Parallel()
	a, b := tcpPair(t)
	g := NewGuard(a, nil, FromClient)
	if n, err := g.Write([]byte("handshake")); n != 9 || err != nil {
		t.Fatalf("Write before a Writer: %d, %v", n, err)
	}
	if err := g.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Write([]byte("late")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past the deadline set through the guard: %v, want a deadline error", err)
	}
	_ = g.SetWriteDeadline(time.Time{})
	w := NewWriter(a, g)
	if n, err := g.Write([]byte("gorilla's close frame")); n != 0 || err != ErrWriteOwned {
		t.Errorf("Write once a Writer owns the connection: %d, %v; want 0, ErrWriteOwned", n, err)
	}
	if err := g.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Errorf("SetWriteDeadline once a Writer owns the connection: %v", err)
	}
	if err := w.WriteFrame(protocol.Text, []byte("frame")); err != nil {
		t.Fatalf("the Writer's frame, after a deadline set through the guard: %v", err)
	}
	// A frame larger than the socket's buffers, which the peer reads
	// only after a write deadline was set through the guard: the frame's
	// own deadline holds.
	big := bytes.Repeat([]byte{'b'}, 8<<20)
	w.SetDeadline(time.Now().Add(10 * time.Second))
	errc := make(chan error, 1)
	go func() { errc <- w.WriteFrame(protocol.Binary, big) }()
	time.Sleep(100 * time.Millisecond) // into the write, which waits for the peer
	_ = g.SetWriteDeadline(time.Now())
	time.Sleep(100 * time.Millisecond)
	_ = b.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(b)
	got := make([]byte, 9)
	if _, err := io.ReadFull(r, got); err != nil || string(got) != "handshake" {
		t.Fatalf("read %q, %v; want the handshake's bytes", got, err)
	}
	if diff := cmp.Diff([]frame{{1, "frame"}, {2, string(big)}}, readFrames(t, r, 2)); diff != "" {
		t.Errorf("after the handshake's bytes (-want +got):\n%.300s", diff)
	}
	if err := <-errc; err != nil {
		t.Errorf("the large frame's write: %v", err)
	}
}

// TestGuardWaitsWithoutBuffer blocks the guards of many idle loopback
// connections in reads of the size gorilla's reader makes, and checks
// that waiting holds no read buffer: the heap grows by far less than a
// chunk a guard. Then a byte arrives for each, and is read.
func TestGuardWaitsWithoutBuffer(t *testing.T) {
	const conns = 200
	guards := make([]*Guard, conns)
	peers := make([]net.Conn, conns)
	for i := range guards {
		a, b := tcpPair(t)
		guards[i], peers[i] = NewGuard(a, nil, FromClient), b
		if !guards[i].ReadsDirectly() {
			t.Skip("this platform's sockets are not read through their descriptors")
		}
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC() // and the pools' victim caches
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	var waiting sync.WaitGroup
	waiting.Add(conns)
	errc := make(chan error, conns)
	for _, g := range guards {
		go func() {
			buf := make([]byte, 2) // a frame header's first read, on the goroutine's stack
			waiting.Done()
			n, err := g.Read(buf)
			if err == nil && n != 1 {
				err = fmt.Errorf("read %d bytes, want the 1 sent", n)
			}
			errc <- err
		}()
	}
	waiting.Wait()
	time.Sleep(200 * time.Millisecond) // into their reads
	grown := int64(heap()) - int64(before)
	for _, p := range peers {
		if _, err := p.Write([]byte{0x81}); err != nil {
			t.Fatal(err)
		}
	}
	for range conns {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if per := grown / conns; per > ChunkSize/4 {
		t.Errorf("the heap grew by %d bytes a guard waiting for bytes, want far less than a chunk (%d)", per, ChunkSize)
	}
}
