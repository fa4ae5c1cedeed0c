package wire

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
)

// recorder is a Control that notes what it is told.
type recorder struct{ events []string }

func (r *recorder) Ping(p []byte) error { r.events = append(r.events, "ping "+string(p)); return nil }
func (r *recorder) Pong(p []byte) error { r.events = append(r.events, "pong "+string(p)); return nil }
func (r *recorder) Close(code protocol.CloseCode, reason string) error {
	r.events = append(r.events, fmt.Sprintf("close %d %s", code, reason))
	return &peerClose{code, reason}
}

// peerClose is the recorder's error for the peer's close frame.
type peerClose struct {
	Code   protocol.CloseCode
	Reason string
}

func (e *peerClose) Error() string { return fmt.Sprintf("close %d %s", e.Code, e.Reason) }

// readMessages reads data as a server's guard reading messages, from a
// source that gives chunk bytes a read, the first pending of them as
// already read by the HTTP server, reading each payload bufSize bytes at
// a time, or only its first bufSize bytes if skip is set. It returns the
// events (messages and control frames) in order and the error that ended
// reading.
func readMessages(data []byte, chunk, pending, bufSize int, limit int64, skip bool) ([]string, error) {
	pending = min(pending, len(data))
	g := NewGuard(&chunkConn{data: data[pending:], chunk: chunk}, data[:pending], FromClient)
	g.Configure(limit, false)
	rec := &recorder{}
	g.ReadMessages(rec)
	buf := make([]byte, bufSize)
	for {
		typ, r, err := g.NextMessage()
		if err != nil {
			return rec.events, err
		}
		var b strings.Builder
		hint := -1 // the payload's size, once Remaining tells it
		if skip {
			n, err := io.ReadFull(r, buf)
			if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
				return rec.events, err
			}
			rec.events = append(rec.events, typ.String()+" "+string(buf[:n]))
			continue
		}
		for {
			if left, ok := r.(interface{ Remaining() (int, bool) }).Remaining(); ok {
				if hint >= 0 && b.Len()+left != hint {
					return rec.events, fmt.Errorf("size told %d, then %d", hint, b.Len()+left)
				}
				hint = b.Len() + left
			}
			n, err := r.Read(buf)
			b.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				return rec.events, err
			}
		}
		if hint >= 0 && b.Len() != hint {
			return rec.events, fmt.Errorf("size told %d, payload %d", hint, b.Len())
		}
		rec.events = append(rec.events, typ.String()+" "+b.String())
	}
}

// errText describes a reading error for comparison.
func errText(err error) string {
	var fe *FrameError
	var pc *peerClose
	switch {
	case errors.As(err, &fe):
		return fmt.Sprintf("fail %d %s", fe.Code, fe.Reason)
	case errors.As(err, &pc):
		return fmt.Sprintf("peer close %d %s", pc.Code, pc.Reason)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected EOF"
	}
	return "other: " + err.Error()
}

func TestReadMessages(t *testing.T) {
	t.Parallel()
	type F = wstest.Frame
	text := func(s string) F { return F{Fin: true, Opcode: wstest.OpText, Payload: []byte(s)} }
	closeFrame := func(p ...byte) F { return F{Fin: true, Opcode: wstest.OpClose, Payload: p} }
	tests := []struct {
		name   string
		data   []byte
		limit  int64
		skip   bool
		events []string
		err    string
	}{
		{"one text, then the end", frames(text("hello")), 0, false, []string{"text hello"}, "unexpected EOF"},
		{"empty and binary", frames(text(""), F{Fin: true, Opcode: wstest.OpBinary, Payload: []byte{0, 1}}), 0, false,
			[]string{"text ", "binary \x00\x01"}, "unexpected EOF"},
		{"fragments with control frames between", frames(
			F{Opcode: wstest.OpText, Payload: []byte("frag")},
			F{Fin: true, Opcode: wstest.OpPing, Payload: []byte("p1")},
			F{Opcode: wstest.OpContinuation, Payload: []byte("men")},
			F{Fin: true, Opcode: wstest.OpPong, Payload: []byte("p2")},
			F{Fin: true, Opcode: wstest.OpContinuation, Payload: []byte("ted")},
		), 0, false, []string{"ping p1", "pong p2", "text fragmented"}, "unexpected EOF"},
		{"control frames before a message", frames(F{Fin: true, Opcode: wstest.OpPing}, text("x")), 0, false,
			[]string{"ping ", "text x"}, "unexpected EOF"},
		{"the peer's close", frames(text("a"), closeFrame(0x03, 0xe8, 'b', 'y', 'e'), text("after")), 0, false,
			[]string{"text a", "close 1000 bye"}, "peer close 1000 bye"},
		{"a close without a status", frames(closeFrame()), 0, false, []string{"close 1005 "}, "peer close 1005 "},
		{"a close of one byte has no status", frames(closeFrame(0x03)), 0, false, []string{"close 1005 "}, "peer close 1005 "},
		{"a bad close code", frames(closeFrame(0x03, 0xe7)), 0, false, nil, "fail 1002 bad close code 999"},
		{"close code 1005 on the wire", frames(closeFrame(0x03, 0xed)), 0, false, nil, "fail 1002 bad close code 1005"},
		{"a close reason not UTF-8", frames(closeFrame(0x03, 0xe8, 0xff)), 0, false, nil, "fail 1002 invalid utf8 payload in close frame"},
		{"a continuation without a start", frames(F{Fin: true, Opcode: wstest.OpContinuation, Payload: []byte("x")}), 0, false,
			nil, "fail 1002 continuation after FIN"},
		{"a message inside a fragmented one", frames(F{Opcode: wstest.OpText, Payload: []byte("a")}, text("b")), 0, false,
			nil, "fail 1002 data before FIN"},
		{"a fragmented ping", frames(F{Opcode: wstest.OpPing}), 0, false, nil, "fail 1002 FIN not set on control"},
		{"RSV1 without compression", frames(F{Fin: true, RSV: 4, Opcode: wstest.OpText}), 0, false, nil, "fail 1002 RSV1 set"},
		{"an unmasked frame from a client", unmasked(text("x")), 0, false, nil, "fail 1002 bad MASK"},
		{"several violations in one header", unmasked(F{RSV: 4, Opcode: wstest.OpPing}), 0, false, nil,
			"fail 1002 RSV1 set, FIN not set on control, bad MASK"},
		{"the guard's own rules first", frames(F{Fin: true, RSV: 1, Opcode: wstest.OpText}), 0, false, nil, "fail 1002 RSV2 or RSV3 set"},
		{"a message over the limit", frames(text("12345"), text("123456")), 5, false, []string{"text 12345"},
			"fail 1009 message too big: 6 bytes, limit 5"},
		{"fragments over the limit", frames(F{Opcode: wstest.OpBinary, Payload: []byte("123")}, F{Fin: true, Payload: []byte("456")}), 5, false,
			nil, "fail 1009 message too big: 6 bytes, limit 5"},
		{"the end inside a payload", frames(text("hello"))[:8], 0, false, nil, "unexpected EOF"},
		{"the end inside a header", frames(text("hello"))[:3], 0, false, nil, "unexpected EOF"},
		{"what is not read is skipped", frames(
			F{Opcode: wstest.OpText, Payload: []byte("abcdef")},
			F{Fin: true, Opcode: wstest.OpPing, Payload: []byte("in between")},
			F{Fin: true, Opcode: wstest.OpContinuation, Payload: []byte("ghi")},
			text("next"),
		), 0, true, []string{"text ab", "ping in between", "text ne"}, "unexpected EOF"},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 3, 4096} {
			for _, pending := range []int{0, 5} {
				bufSize := 7
				if tt.skip {
					bufSize = 2
				}
				events, err := readMessages(tt.data, chunk, pending, bufSize, tt.limit, tt.skip)
				if diff := cmp.Diff(tt.events, events); diff != "" {
					t.Errorf("%s (chunk %d, pending %d): events (-want +got):\n%s", tt.name, chunk, pending, diff)
				}
				if got := errText(err); got != tt.err {
					t.Errorf("%s (chunk %d, pending %d): ended with %q, want %q", tt.name, chunk, pending, got, tt.err)
				}
			}
		}
	}
}

// TestRemaining checks when a message's size is told before its payload
// is read; readMessages checks, in every test that reads, that a size
// told is the payload's.
func TestRemaining(t *testing.T) {
	t.Parallel()
	type F = wstest.Frame
	frag := func(n int) []F {
		var fs []F
		for i := range n {
			f := F{Opcode: wstest.OpContinuation, Payload: []byte("ab")}
			if i == 0 {
				f.Opcode = wstest.OpBinary
			}
			fs = append(fs, f)
		}
		fs[n-1].Fin = true
		return fs
	}
	big := frames(F{Fin: true, Opcode: wstest.OpBinary, Payload: make([]byte, MaxSizeHint+1)})
	tests := []struct {
		name    string
		data    []byte
		chunk   int
		pending int
		n       int
		ok      bool
	}{
		{"one frame", frames(F{Fin: true, Opcode: wstest.OpText, Payload: []byte("hello")}), 3, 0, 5, true},
		{"an empty message", frames(F{Fin: true, Opcode: wstest.OpText}), 4096, 0, 0, true},
		{"fragments held", frames(frag(3)...), 4096, 0, 6, true},
		{"fragments pending", frames(frag(3)...), 1, 24, 6, true},
		{"fragments and control frames held", frames(
			F{Opcode: wstest.OpText, Payload: []byte("frag")},
			F{Fin: true, Opcode: wstest.OpPing, Payload: []byte("p1")},
			F{Fin: true, Opcode: wstest.OpContinuation, Payload: []byte("mented")},
		), 4096, 0, 10, true},
		{"the last fragment's header not yet read", frames(frag(3)...), 10, 0, 0, false},
		{"64 fragments after the first", frames(frag(65)...), 4096, 0, 130, true},
		{"65 fragments after the first", frames(frag(66)...), 4096, 0, 0, false},
		{"more than MaxSizeHint", big, 4096, 0, 0, false},
		{"fragments over the message limit", frames(frag(3)...), 4096, 0, 0, false},
		{"a message inside the fragments", frames(F{Opcode: wstest.OpText, Payload: []byte("a")}, F{Fin: true, Opcode: wstest.OpText}), 4096, 0, 0, false},
		{"a fragment breaking a rule", frames(F{Opcode: wstest.OpText, Payload: []byte("a")}, F{Fin: true, RSV: 1}), 4096, 0, 0, false},
	}
	for _, tt := range tests {
		g := NewGuard(&chunkConn{data: tt.data[tt.pending:], chunk: tt.chunk}, tt.data[:tt.pending], FromClient)
		if strings.Contains(tt.name, "limit") {
			g.Configure(5, false) // the first fragment's 2 bytes pass; the message's 6 do not
		}
		g.ReadMessages(&recorder{})
		_, r, err := g.NextMessage()
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		n, ok := r.(*body).Remaining()
		if n != tt.n || ok != tt.ok {
			t.Errorf("%s: Remaining() = %d, %t, want %d, %t", tt.name, n, ok, tt.n, tt.ok)
		}
	}
}

// TestReadMessagesErrorsStay: once reading has failed, every later read
// gives the same error.
func TestReadMessagesErrorsStay(t *testing.T) {
	t.Parallel()
	data := frames(wstest.Frame{Opcode: wstest.OpText, Payload: []byte("ab")})
	g := NewGuard(&chunkConn{data: data, chunk: 100}, nil, FromClient)
	g.ReadMessages(&recorder{})
	_, r, err := g.NextMessage()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading a message cut short: %v, want io.ErrUnexpectedEOF", err)
	}
	if _, _, err := g.NextMessage(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("NextMessage after the failure: %v", err)
	}
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Read after the failure: %v", err)
	}
}

// FuzzReadMessages reads any bytes as a client's frames, in any chunking
// and with any read size, and checks that what is read does not depend
// on either, that payloads are never longer than the input, and that
// reading ends with one of the documented errors.
func FuzzReadMessages(f *testing.F) {
	f.Add(frames(wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("hi")}), uint8(1), uint8(0), uint8(3), uint16(0))
	f.Add(frames(wstest.Frame{Opcode: wstest.OpBinary, Payload: []byte("ab")}, wstest.Frame{Fin: true, Opcode: wstest.OpPing, Payload: []byte("p")},
		wstest.Frame{Fin: true, Payload: []byte("c")}), uint8(2), uint8(3), uint8(1), uint16(10))
	f.Add(frames(wstest.Frame{Fin: true, Opcode: wstest.OpClose, Payload: []byte{0x03, 0xe8, 'x'}}), uint8(5), uint8(1), uint8(8), uint16(0))
	f.Add(unmasked(wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("hi")}), uint8(7), uint8(0), uint8(2), uint16(1))
	f.Fuzz(func(t *testing.T, data []byte, chunk, pending, bufSize uint8, limit uint16) {
		events, err := readMessages(data, int(chunk)+1, int(pending), int(bufSize)+1, int64(limit), false)
		refEvents, refErr := readMessages(data, len(data)+1, 0, 4096, int64(limit), false)
		if diff := cmp.Diff(refEvents, events); diff != "" {
			t.Fatalf("events depend on the chunking (-whole +chunked):\n%s", diff)
		}
		if got, want := errText(err), errText(refErr); got != want {
			t.Fatalf("ended with %q, whole %q", got, want)
		}
		if strings.HasPrefix(errText(err), "other") {
			t.Fatalf("ended with an undocumented error: %v", err)
		}
		n := 0
		for _, e := range events {
			n += len(e)
		}
		if n > 2*len(data)+16*len(events) {
			t.Fatalf("read %d bytes of events from %d bytes", n, len(data))
		}
	})
}

// BenchmarkNextMessage reads 128-byte messages, one per socket read, as a
// server's guard reading messages does in an echo: the header, then the
// payload into a reused buffer.
func BenchmarkNextMessage(b *testing.B) {
	msg := frames(wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Payload: make([]byte, 128)})
	conn := &repeatConn{msg: msg}
	g := NewGuard(conn, nil, FromClient)
	g.ReadMessages(&recorder{})
	buf := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		_, r, err := g.NextMessage()
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := r.Read(buf); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// repeatConn gives msg on every read.
type repeatConn struct {
	chunkConn
	msg []byte
}

func (c *repeatConn) Read(p []byte) (int, error) { return copy(p, c.msg), nil }
