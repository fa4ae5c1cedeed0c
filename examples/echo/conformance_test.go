package main

// A raw-frame conformance suite modelled on the case list of the
// Autobahn|Testsuite (sections 1-7 and 9): hand-made frames are written to
// a plain TCP socket connected to the echo program, and every frame that
// comes back is checked. Case numbers follow Autobahn's where a case has
// a direct counterpart.

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/wstest"
)

// expect is one frame or message the server must send next.
type expect struct {
	op      byte   // OpText, OpBinary (a whole message), OpPong, or OpClose
	payload []byte // for messages and pongs
	codes   []int  // for OpClose: acceptable close codes
}

type confCase struct {
	id    string
	desc  string
	send  []wstest.Frame
	raw   []byte // written after send, as is
	chop  bool   // write the encoded frames one byte at a time
	want  []expect
	limit string // "" or "long": heavier cases run without -short only
}

func text(s string) wstest.Frame {
	return wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte(s)}
}
func binMsg(b []byte) wstest.Frame {
	return wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Payload: b}
}
func ping(b []byte) wstest.Frame { return wstest.Frame{Fin: true, Opcode: wstest.OpPing, Payload: b} }
func pong(b []byte) wstest.Frame { return wstest.Frame{Fin: true, Opcode: wstest.OpPong, Payload: b} }
func closeFrame(code int, reason string) wstest.Frame {
	return wstest.Frame{Fin: true, Opcode: wstest.OpClose, Payload: append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)}
}
func echoText(s string) expect  { return expect{op: wstest.OpText, payload: []byte(s)} }
func echoBin(b []byte) expect   { return expect{op: wstest.OpBinary, payload: b} }
func wantPong(b []byte) expect  { return expect{op: wstest.OpPong, payload: b} }
func wantClose(c ...int) expect { return expect{op: wstest.OpClose, codes: c} }
func fragments(op byte, p []byte, size int) []wstest.Frame {
	var fs []wstest.Frame
	for i := 0; i == 0 || i < len(p); i += size {
		end := min(i+size, len(p))
		o := byte(wstest.OpContinuation)
		if i == 0 {
			o = op
		}
		fs = append(fs, wstest.Frame{Fin: end == len(p), Opcode: o, Payload: p[i:end]})
	}
	return fs
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func conformanceCases() []confCase {
	var cs []confCase
	add := func(c confCase) { cs = append(cs, c) }

	// 1. Framing: text and binary payloads of every length class.
	for i, n := range []int{0, 125, 126, 127, 128, 65535, 65536} {
		s := strings.Repeat("*", n)
		add(confCase{id: fmt.Sprintf("1.1.%d", i+1), desc: fmt.Sprintf("text, %d bytes", n), send: []wstest.Frame{text(s)}, want: []expect{echoText(s)}})
		b := bytes.Repeat([]byte{0xfe}, n)
		add(confCase{id: fmt.Sprintf("1.2.%d", i+1), desc: fmt.Sprintf("binary, %d bytes", n), send: []wstest.Frame{binMsg(b)}, want: []expect{echoBin(b)}})
	}
	add(confCase{id: "1.1.8", desc: "text, 65536 bytes, written in chops", send: []wstest.Frame{text(strings.Repeat("*", 1000))}, chop: true, want: []expect{echoText(strings.Repeat("*", 1000))}})

	// 2. Pings and pongs.
	add(confCase{id: "2.1", desc: "ping without payload", send: []wstest.Frame{ping(nil)}, want: []expect{wantPong(nil)}})
	add(confCase{id: "2.2", desc: "ping with text payload", send: []wstest.Frame{ping([]byte("Hello, world!"))}, want: []expect{wantPong([]byte("Hello, world!"))}})
	add(confCase{id: "2.3", desc: "ping with binary payload", send: []wstest.Frame{ping([]byte{0, 0xff, 0xfe, 0xfd})}, want: []expect{wantPong([]byte{0, 0xff, 0xfe, 0xfd})}})
	p125 := bytes.Repeat([]byte{0xfe}, 125)
	add(confCase{id: "2.4", desc: "ping with 125-byte payload", send: []wstest.Frame{ping(p125)}, want: []expect{wantPong(p125)}})
	add(confCase{id: "2.5", desc: "ping with 126-byte payload", send: []wstest.Frame{ping(bytes.Repeat([]byte{0xfe}, 126))}, want: []expect{wantClose(1002)}})
	add(confCase{id: "2.6", desc: "ping with 125-byte payload, written in chops", send: []wstest.Frame{ping(p125)}, chop: true, want: []expect{wantPong(p125)}})
	add(confCase{id: "2.7", desc: "unsolicited pong without payload", send: []wstest.Frame{pong(nil)}})
	add(confCase{id: "2.8", desc: "unsolicited pong with payload", send: []wstest.Frame{pong([]byte("unsolicited"))}})
	add(confCase{id: "2.9", desc: "unsolicited pong, then ping", send: []wstest.Frame{pong([]byte("unsolicited")), ping([]byte("solicited"))}, want: []expect{wantPong([]byte("solicited"))}})
	var pings []wstest.Frame
	var pongs []expect
	for i := range 10 {
		pings = append(pings, ping([]byte(fmt.Sprint("payload-", i))))
		pongs = append(pongs, wantPong([]byte(fmt.Sprint("payload-", i))))
	}
	add(confCase{id: "2.10", desc: "10 pings", send: pings, want: pongs})

	// 3. Reserved bits (no extension is negotiated).
	for rsv := byte(1); rsv <= 7; rsv++ {
		f := text("Hello, world!")
		f.RSV = rsv
		add(confCase{id: fmt.Sprintf("3.%d", rsv), desc: fmt.Sprintf("text with RSV=%d after a valid message", rsv),
			send: []wstest.Frame{text("before"), f, ping(nil)}, want: []expect{echoText("before"), wantClose(1002)}})
	}

	// 4. Reserved opcodes.
	for i, op := range []byte{3, 4, 5, 6, 7} {
		add(confCase{id: fmt.Sprintf("4.1.%d", i+1), desc: fmt.Sprintf("reserved data opcode %d", op),
			send: []wstest.Frame{text("before"), {Fin: true, Opcode: op, Payload: []byte("x")}, ping(nil)}, want: []expect{echoText("before"), wantClose(1002)}})
	}
	for i, op := range []byte{11, 12, 13, 14, 15} {
		add(confCase{id: fmt.Sprintf("4.2.%d", i+1), desc: fmt.Sprintf("reserved control opcode %d", op),
			send: []wstest.Frame{text("before"), {Fin: true, Opcode: op}, ping(nil)}, want: []expect{echoText("before"), wantClose(1002)}})
	}

	// 5. Fragmentation.
	add(confCase{id: "5.1", desc: "ping in 2 fragments", send: []wstest.Frame{{Opcode: wstest.OpPing, Payload: []byte("frag")}, {Fin: true, Opcode: wstest.OpContinuation, Payload: []byte("ment")}}, want: []expect{wantClose(1002)}})
	add(confCase{id: "5.2", desc: "pong in 2 fragments", send: []wstest.Frame{{Opcode: wstest.OpPong, Payload: []byte("frag")}, {Fin: true, Opcode: wstest.OpContinuation, Payload: []byte("ment")}}, want: []expect{wantClose(1002)}})
	add(confCase{id: "5.3", desc: "text in 2 fragments", send: fragments(wstest.OpText, []byte("fragment1fragment2"), 9), want: []expect{echoText("fragment1fragment2")}})
	add(confCase{id: "5.6", desc: "text in 2 fragments, ping between", send: []wstest.Frame{{Opcode: wstest.OpText, Payload: []byte("fragment1")}, ping([]byte("ping")), {Fin: true, Opcode: wstest.OpContinuation, Payload: []byte("fragment2")}},
		want: []expect{wantPong([]byte("ping")), echoText("fragment1fragment2")}})
	add(confCase{id: "5.6c", desc: "same, written in chops", send: []wstest.Frame{{Opcode: wstest.OpText, Payload: []byte("fragment1")}, ping([]byte("ping")), {Fin: true, Opcode: wstest.OpContinuation, Payload: []byte("fragment2")}},
		chop: true, want: []expect{wantPong([]byte("ping")), echoText("fragment1fragment2")}})
	add(confCase{id: "5.9", desc: "unfragmented continuation without a start", send: []wstest.Frame{{Fin: true, Opcode: wstest.OpContinuation, Payload: []byte("x")}, text("after")}, want: []expect{wantClose(1002)}})
	add(confCase{id: "5.10", desc: "fragmented continuation without a start", send: []wstest.Frame{{Opcode: wstest.OpContinuation, Payload: []byte("x")}, {Fin: true, Opcode: wstest.OpContinuation, Payload: []byte("y")}}, want: []expect{wantClose(1002)}})
	add(confCase{id: "5.15", desc: "text in 2 fragments, then a stray continuation", send: append(fragments(wstest.OpText, []byte("fragment1fragment2"), 9), wstest.Frame{Fin: true, Opcode: wstest.OpContinuation, Payload: []byte("x")}),
		want: []expect{echoText("fragment1fragment2"), wantClose(1002)}})
	add(confCase{id: "5.18", desc: "a new text message inside a fragmented one", send: []wstest.Frame{{Opcode: wstest.OpText, Payload: []byte("fragment1")}, text("fragment2")}, want: []expect{wantClose(1002)}})
	add(confCase{id: "5.19", desc: "text in 5 fragments with pings between", send: []wstest.Frame{
		{Opcode: wstest.OpText, Payload: []byte("f1")}, {Opcode: wstest.OpContinuation, Payload: []byte("f2")}, ping([]byte("p1")),
		{Opcode: wstest.OpContinuation, Payload: []byte("f3")}, {Opcode: wstest.OpContinuation, Payload: []byte("f4")}, ping([]byte("p2")),
		{Fin: true, Opcode: wstest.OpContinuation, Payload: []byte("f5")}},
		want: []expect{wantPong([]byte("p1")), wantPong([]byte("p2")), echoText("f1f2f3f4f5")}})
	add(confCase{id: "5.20", desc: "empty fragments", send: []wstest.Frame{{Opcode: wstest.OpText}, {Opcode: wstest.OpContinuation}, {Fin: true, Opcode: wstest.OpContinuation}}, want: []expect{echoText("")}})

	// 6. UTF-8 handling.
	valid := []string{"", "Hello-µ@ßöäüàá-UTF-8!!", "κόσμε", "\x00", "\u0080", "\u07ff", "\u0800", "\uffff", "\U00010000", "\U0010ffff", "\ufeff", "\ufffd", "\ud7ff", "\ue000"}
	for i, s := range valid {
		add(confCase{id: fmt.Sprintf("6.v.%d", i+1), desc: fmt.Sprintf("valid UTF-8 %q", s), send: []wstest.Frame{text(s)}, want: []expect{echoText(s)}})
		if len(s) > 1 {
			add(confCase{id: fmt.Sprintf("6.vf.%d", i+1), desc: fmt.Sprintf("valid UTF-8 %q, one byte a fragment", s), send: fragments(wstest.OpText, []byte(s), 1), want: []expect{echoText(s)}})
		}
	}
	invalid := []string{"\x80", "\xbf", "\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xfe", "\xff", "\xfe\xfe\xff\xff",
		"κόσμε\xed\xa0\x80edited", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80\x65\x64\x69\x74\x65\x64", "ab\xe2\x82", "\xc2", "\xc0\x80"}
	for i, s := range invalid {
		add(confCase{id: fmt.Sprintf("6.i.%d", i+1), desc: fmt.Sprintf("invalid UTF-8 %q", s), send: []wstest.Frame{text(s)}, want: []expect{wantClose(1007)}})
		add(confCase{id: fmt.Sprintf("6.if.%d", i+1), desc: fmt.Sprintf("invalid UTF-8 %q, one byte a fragment", s), send: fragments(wstest.OpText, []byte(s), 1), want: []expect{wantClose(1007)}})
	}
	add(confCase{id: "6.x.1", desc: "valid start, invalid in a later fragment", send: []wstest.Frame{{Opcode: wstest.OpText, Payload: []byte("κόσμε")}, {Fin: true, Opcode: wstest.OpContinuation, Payload: []byte("\xf4\x90\x80\x80")}}, want: []expect{wantClose(1007)}})
	add(confCase{id: "6.x.2", desc: "binary messages are not checked", send: []wstest.Frame{binMsg([]byte("\xff\xfe"))}, want: []expect{echoBin([]byte("\xff\xfe"))}})

	// 7. Close handling.
	add(confCase{id: "7.1.1", desc: "text, then close", send: []wstest.Frame{text("Hello"), closeFrame(1000, "")}, want: []expect{echoText("Hello"), wantClose(1000)}})
	add(confCase{id: "7.1.2", desc: "close twice", send: []wstest.Frame{closeFrame(1000, ""), closeFrame(1000, "")}, want: []expect{wantClose(1000)}})
	add(confCase{id: "7.1.3", desc: "ping after close is ignored", send: []wstest.Frame{closeFrame(1000, ""), ping([]byte("late"))}, want: []expect{wantClose(1000)}})
	add(confCase{id: "7.1.4", desc: "text after close is ignored", send: []wstest.Frame{closeFrame(1000, ""), text("late")}, want: []expect{wantClose(1000)}})
	add(confCase{id: "7.1.5", desc: "close inside a fragmented message", send: []wstest.Frame{{Opcode: wstest.OpText, Payload: []byte("frag")}, closeFrame(1000, ""), {Fin: true, Opcode: wstest.OpContinuation, Payload: []byte("ment")}}, want: []expect{wantClose(1000)}})
	add(confCase{id: "7.3.1", desc: "close without payload", send: []wstest.Frame{{Fin: true, Opcode: wstest.OpClose}}, want: []expect{wantClose(1005)}})
	add(confCase{id: "7.3.3", desc: "close 1000 without reason", send: []wstest.Frame{closeFrame(1000, "")}, want: []expect{wantClose(1000)}})
	add(confCase{id: "7.3.4", desc: "close 1000 with reason", send: []wstest.Frame{closeFrame(1000, "Hello World!")}, want: []expect{wantClose(1000)}})
	add(confCase{id: "7.3.5", desc: "close with a 123-byte reason", send: []wstest.Frame{closeFrame(1000, strings.Repeat("*", 123))}, want: []expect{wantClose(1000)}})
	add(confCase{id: "7.3.6", desc: "close with a 124-byte reason (payload over 125)", send: []wstest.Frame{closeFrame(1000, strings.Repeat("*", 124))}, want: []expect{wantClose(1002)}})
	add(confCase{id: "7.5.1", desc: "close reason with invalid UTF-8", send: []wstest.Frame{closeFrame(1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80")}, want: []expect{wantClose(1002, 1007)}})
	// 1014 (bad gateway) was registered after RFC 6455; the echo server,
	// which does not compress, takes it as valid (a compressed
	// connection, read by gorilla, does not; see docs/connection.md).
	for i, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		add(confCase{id: fmt.Sprintf("7.7.%d", i+1), desc: fmt.Sprintf("close with valid code %d", code), send: []wstest.Frame{closeFrame(code, "")}, want: []expect{wantClose(code)}})
	}
	for i, code := range []int{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		add(confCase{id: fmt.Sprintf("7.9.%d", i+1), desc: fmt.Sprintf("close with invalid code %d", code), send: []wstest.Frame{closeFrame(code, "")}, want: []expect{wantClose(1002)}})
	}

	// 9. Large messages, whole and fragmented.
	for i, n := range []int{64 << 10, 256 << 10, 1 << 20, 4 << 20} {
		s := strings.Repeat("BAsd7&jh23", n/10+1)[:n]
		add(confCase{id: fmt.Sprintf("9.1.%d", i+1), desc: fmt.Sprintf("text, %d bytes", n), send: []wstest.Frame{text(s)}, want: []expect{echoText(s)}, limit: long(n)})
		b := randBytes(n)
		add(confCase{id: fmt.Sprintf("9.2.%d", i+1), desc: fmt.Sprintf("binary, %d bytes", n), send: []wstest.Frame{binMsg(b)}, want: []expect{echoBin(b)}, limit: long(n)})
	}
	for i, size := range []int{64, 256, 4 << 10, 64 << 10, 1 << 20} {
		s := strings.Repeat("*", 1<<20)
		add(confCase{id: fmt.Sprintf("9.3.%d", i+1), desc: fmt.Sprintf("1 MiB text in %d-byte fragments", size), send: fragments(wstest.OpText, []byte(s), size), want: []expect{echoText(s)}})
		b := randBytes(1 << 20)
		add(confCase{id: fmt.Sprintf("9.4.%d", i+1), desc: fmt.Sprintf("1 MiB binary in %d-byte fragments", size), send: fragments(wstest.OpBinary, b, size), want: []expect{echoBin(b)}})
	}
	add(confCase{id: "9.x.1", desc: "declared length over the read limit", raw: wstest.EncodeLen(wstest.Frame{Fin: true, Opcode: wstest.OpBinary}, 17<<20, true), want: []expect{wantClose(1009)}})
	return cs
}

func long(n int) string {
	if n > 1<<20 {
		return "long"
	}
	return ""
}

func TestConformance(t *testing.T) {
	p := wstest.Start(t, bin, "-addr", "127.0.0.1:0")
	for _, tc := range conformanceCases() {
		t.Run(tc.id, func(t *testing.T) {
			t.Parallel()
			if tc.limit == "long" && testing.Short() {
				t.Skip("large message; runs without -short")
			}
			runCase(t, p.Addr, tc)
		})
	}
}

func runCase(t *testing.T, addr string, tc confCase) {
	c, err := wstest.Dial(addr, "/")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []byte
	for _, f := range tc.send {
		out = append(out, wstest.Encode(f)...)
	}
	out = append(out, tc.raw...)
	go func() {
		if tc.chop {
			for i := range out {
				if _, err := c.Write(out[i : i+1]); err != nil {
					return
				}
			}
			return
		}
		_, _ = c.Write(out)
	}()
	closed := false
	for _, w := range tc.want {
		got, err := readExpected(c, w.op)
		if err != nil {
			t.Fatalf("%s: waiting for %s: %v", tc.desc, opName(w.op), err)
		}
		if got.Opcode != w.op {
			t.Fatalf("%s: got %s %.60q, want %s", tc.desc, opName(got.Opcode), got.Payload, opName(w.op))
		}
		if w.op == wstest.OpClose {
			if !slices.Contains(w.codes, got.CloseCode()) {
				t.Fatalf("%s: closed with %d %q, want one of %v", tc.desc, got.CloseCode(), got.CloseReason(), w.codes)
			}
			closed = true
			break
		}
		if !bytes.Equal(got.Payload, w.payload) {
			t.Fatalf("%s: %s payload of %d bytes differs from the %d expected (%.40q vs %.40q)", tc.desc, opName(w.op), len(got.Payload), len(w.payload), got.Payload, w.payload)
		}
	}
	if !closed {
		// Nothing else may come: a clean closing handshake follows.
		if err := c.WriteFrame(closeFrame(1000, "done")); err != nil {
			t.Fatal(err)
		}
		got, err := readExpected(c, wstest.OpClose)
		if err != nil || got.Opcode != wstest.OpClose || got.CloseCode() != 1000 {
			t.Fatalf("%s: after the case, got %s %.60q (%v), want close 1000", tc.desc, opName(got.Opcode), got.Payload, err)
		}
	}
	// The server closes the TCP connection after the closing handshake.
	if closed && len(tc.want) > 0 {
		_ = c.WriteFrame(closeFrame(1000, ""))
	}
	if err := c.ExpectEOF(10 * time.Second); err != nil {
		t.Fatalf("%s: %v", tc.desc, err)
	}
}

// readExpected reads the next frame, reassembling a fragmented data
// message when one is expected and skipping keepalive pings.
func readExpected(c *wstest.Conn, want byte) (wstest.Frame, error) {
	var msg wstest.Frame
	for {
		f, err := c.ReadFrame(20 * time.Second)
		if err != nil {
			return wstest.Frame{}, err
		}
		if f.Opcode == wstest.OpPing && want != wstest.OpPing {
			continue
		}
		if f.Opcode == wstest.OpContinuation {
			msg.Payload = append(msg.Payload, f.Payload...)
		} else {
			msg = f
		}
		if f.Fin {
			msg.Fin = true
			return msg, nil
		}
	}
}

func opName(op byte) string {
	switch op {
	case wstest.OpText:
		return "text"
	case wstest.OpBinary:
		return "binary"
	case wstest.OpPing:
		return "ping"
	case wstest.OpPong:
		return "pong"
	case wstest.OpClose:
		return "close"
	case wstest.OpContinuation:
		return "continuation"
	}
	return fmt.Sprintf("opcode %d", op)
}
