package service

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"

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

// guarded reads data through a frameGuard whose source returns chunk
// bytes at a time, the first pending ones as if the HTTP server had read
// them, and returns what the guard let through and its error.
func guarded(data []byte, chunk, pending int, limit int64) ([]byte, error) {
	pending = min(pending, len(data))
	g := &frameGuard{Conn: &chunkConn{data: data[pending:], chunk: chunk}, pending: data[:pending], limit: limit}
	var out []byte
	buf := make([]byte, 4096)
	// Reads of these sizes in turn: whole chunks, and the small reads
	// of gorilla's reader that are served from a pooled chunk. Sources
	// that return a few bytes at a time are read whole only: every small
	// read from them would take a fresh chunk, which makes the test
	// slow under the race detector without covering anything more.
	sizes := []int{4096, 7, guardedReadBuffer, 3000, 64}
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
func walk(data []byte, limit int64) (int, *frameError) {
	var msgLen uint64
	pos := 0
	for pos+2 <= len(data) {
		b0, b1 := data[pos], data[pos+1]
		n := headerLen(b1)
		if pos+n > len(data) {
			break
		}
		length := uint64(b1 & 0x7f)
		switch length {
		case 126:
			length = uint64(binary.BigEndian.Uint16(data[pos+2:]))
		case 127:
			length = binary.BigEndian.Uint64(data[pos+2:])
		}
		op, rsv1 := b0&0xf, b0&0x40 != 0
		switch {
		case rsv1 && op >= 8:
			return pos, &frameError{protocol.CloseProtocolError, "RSV1 set on a control frame"}
		case rsv1 && op == 0:
			return pos, &frameError{protocol.CloseProtocolError, "RSV1 set on a continuation frame"}
		case length>>63 != 0:
			return pos, &frameError{protocol.CloseProtocolError, "frame length has its most significant bit set"}
		}
		if op < 8 {
			if op != 0 {
				msgLen = 0
			}
			msgLen += length
			if limit > 0 && msgLen > uint64(limit) {
				return pos, &frameError{protocol.CloseMessageTooBig, ""}
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
	return extra == 0 || extra < 2 || extra < headerLen(data[want+1])
}

func frames(fs ...wstest.Frame) []byte { return wstest.EncodeAll(fs...) }

func TestFrameGuard(t *testing.T) {
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
		// What must pass: everything, or what comes before the offending
		// frame, plus at most the part of its header that earlier reads
		// passed before the header was complete.
		wantPass := len(data) - len(tt.bad)
		if ref, _ := walk(data, tt.limit); ref != wantPass && tt.code != 0 {
			t.Fatalf("%s: the reference stops at %d, want %d", tt.name, ref, wantPass)
		}
		for _, chunk := range []int{1, 2, 3, 7, 13, 64, 4096, len(data)} {
			for _, pending := range []int{0, 5, 200} {
				got, err := guarded(data, chunk, pending, tt.limit)
				if !passedPrefix(got, data, wantPass, err != nil) {
					t.Errorf("%s (chunks of %d, %d pending): passed %d bytes, want the first %d", tt.name, chunk, pending, len(got), wantPass)
				}
				var fe *frameError
				switch {
				case tt.code == 0 && err != nil:
					t.Errorf("%s (chunks of %d): error %v", tt.name, chunk, err)
				case tt.code != 0 && (!errors.As(err, &fe) || fe.code != tt.code || fe.reason != tt.reason):
					t.Errorf("%s (chunks of %d): error %v, want %d %q", tt.name, chunk, err, tt.code, tt.reason)
				}
			}
		}
	}
}

// FuzzFrameGuard feeds arbitrary streams through the guard in chunks of
// every size and checks it against the whole-buffer reference: the same
// prefix let through, the same violation, whatever the chunking.
func FuzzFrameGuard(f *testing.F) {
	f.Add(frames(wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("hi")}), uint8(1), uint8(0), uint16(0))
	f.Add(frames(wstest.Frame{Fin: true, RSV: 4, Opcode: wstest.OpPing}), uint8(3), uint8(1), uint16(0))
	f.Add(wstest.EncodeLen(wstest.Frame{Fin: true, Opcode: wstest.OpBinary}, 1<<63, true), uint8(2), uint8(4), uint16(10))
	f.Add(frames(wstest.Frame{Opcode: wstest.OpText, Payload: make([]byte, 130)}, wstest.Frame{Fin: true, Payload: make([]byte, 70000)}), uint8(7), uint8(9), uint16(1000))
	f.Fuzz(func(t *testing.T, data []byte, chunk, pending uint8, limit uint16) {
		wantPass, wantErr := walk(data, int64(limit))
		got, err := guarded(data, int(chunk)+1, int(pending), int64(limit))
		if !passedPrefix(got, data, wantPass, wantErr != nil) {
			t.Fatalf("passed %d bytes, the reference %d", len(got), wantPass)
		}
		var fe *frameError
		switch {
		case wantErr == nil && err != nil:
			t.Fatalf("error %v, the reference none", err)
		case wantErr != nil && (!errors.As(err, &fe) || fe.code != wantErr.code):
			t.Fatalf("error %v, the reference %d %q", err, wantErr.code, wantErr.reason)
		}
	})
}
