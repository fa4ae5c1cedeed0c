package hardening

import (
	"bytes"
	"compress/flate"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/service"
)

// frameLimit is the targets' read limit in the frame tests.
const frameLimit = 64 << 10

// hostileFrame is one case: raw bytes a client sends after a valid
// handshake, and the close code the server must answer with.
type hostileFrame struct {
	name     string
	deflate  bool // negotiate permessage-deflate first
	wire     [][]byte
	wantCode int
}

func masked(f wstest.Frame) []byte   { return wstest.Encode(f) }
func unmasked(f wstest.Frame) []byte { return wstest.EncodeLen(f, uint64(len(f.Payload)), false) }

// deflated compresses p as a permessage-deflate message (RFC 7692
// section 7.2.1: the final empty block's 0x00 0x00 0xff 0xff removed).
func deflated(p []byte) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	_, _ = w.Write(p)
	_ = w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

func hostileFrames() []hostileFrame {
	text := func(fin bool, op byte, p string) []byte {
		return masked(wstest.Frame{Fin: fin, Opcode: op, Payload: []byte(p)})
	}
	declare := func(n uint64) []byte {
		return wstest.EncodeLen(wstest.Frame{Fin: true, Opcode: wstest.OpBinary}, n, true)
	}
	cases := []hostileFrame{
		{"unmasked frame", false, [][]byte{unmasked(wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("hi")})}, 1002},
		{"RSV1 without an extension", false, [][]byte{masked(wstest.Frame{Fin: true, RSV: 4, Opcode: wstest.OpText, Payload: []byte("hi")})}, 1002},
		{"RSV2", false, [][]byte{masked(wstest.Frame{Fin: true, RSV: 2, Opcode: wstest.OpText, Payload: []byte("hi")})}, 1002},
		{"RSV3", false, [][]byte{masked(wstest.Frame{Fin: true, RSV: 1, Opcode: wstest.OpText, Payload: []byte("hi")})}, 1002},
		{"RSV1 on a control frame with deflate", true, [][]byte{masked(wstest.Frame{Fin: true, RSV: 4, Opcode: wstest.OpPing})}, 1002},
		{"fragmented ping", false, [][]byte{text(false, wstest.OpPing, "")}, 1002},
		{"fragmented close", false, [][]byte{text(false, wstest.OpClose, "\x03\xe8")}, 1002},
		{"fragmented pong", false, [][]byte{text(false, wstest.OpPong, "")}, 1002},
		{"ping of 126 bytes", false, [][]byte{masked(wstest.Frame{Fin: true, Opcode: wstest.OpPing, Payload: make([]byte, 126)})}, 1002},
		{"close of 126 bytes", false, [][]byte{masked(wstest.Frame{Fin: true, Opcode: wstest.OpClose, Payload: append([]byte{3, 0xe8}, make([]byte, 124)...)})}, 1002},
		{"continuation without a start", false, [][]byte{text(true, wstest.OpContinuation, "x")}, 1002},
		{"new message inside a fragmented one", false, [][]byte{text(false, wstest.OpText, "a"), text(true, wstest.OpText, "b")}, 1002},
		{"invalid UTF-8", false, [][]byte{text(true, wstest.OpText, "ok \xff")}, 1007},
		{"invalid UTF-8 split across fragments", false, [][]byte{text(false, wstest.OpText, "ab\xe2\x82"), text(true, wstest.OpContinuation, "\x28")}, 1007},
		// gorilla answers a close reason that is not UTF-8 with 1002.
		{"invalid UTF-8 in a close reason", false, [][]byte{text(true, wstest.OpClose, "\x03\xe8\xff")}, 1002},
		{"length 2^63 (most significant bit set)", false, [][]byte{declare(1 << 63)}, 1002},
		{"length 2^64-1", false, [][]byte{declare(1<<64 - 1)}, 1002},
		{"length 2^63-1", false, [][]byte{declare(1<<63 - 1)}, 1009},
		{"1 TiB declared, no data", false, [][]byte{declare(1 << 40)}, 1009},
		{"message over the limit", false, [][]byte{masked(wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Payload: make([]byte, frameLimit+1)})}, 1009},
		{"fragments over the limit", false, [][]byte{
			masked(wstest.Frame{Opcode: wstest.OpBinary, Payload: make([]byte, frameLimit/2)}),
			masked(wstest.Frame{Opcode: wstest.OpContinuation, Payload: make([]byte, frameLimit/2)}),
			masked(wstest.Frame{Fin: true, Opcode: wstest.OpContinuation, Payload: make([]byte, 10)}),
		}, 1009},
		{"compression bomb", true, [][]byte{masked(wstest.Frame{Fin: true, RSV: 4, Opcode: wstest.OpBinary, Payload: deflated(make([]byte, 64<<20))})}, 1009},
		{"invalid deflate data", true, [][]byte{masked(wstest.Frame{Fin: true, RSV: 4, Opcode: wstest.OpBinary, Payload: []byte{0xff, 0xff, 0xff, 0xff}})}, 1002},
		{"RSV1 on a continuation frame", true, [][]byte{
			masked(wstest.Frame{RSV: 4, Opcode: wstest.OpBinary, Payload: deflated([]byte("a"))}),
			masked(wstest.Frame{Fin: true, RSV: 4, Opcode: wstest.OpContinuation}),
		}, 1002},
	}
	for op := byte(3); op <= 0xF; op++ {
		if op == wstest.OpClose || op == wstest.OpPing || op == wstest.OpPong {
			continue
		}
		cases = append(cases, hostileFrame{fmt.Sprintf("reserved opcode %#x", op), false, [][]byte{masked(wstest.Frame{Fin: true, Opcode: op})}, 1002})
	}
	return cases
}

// send runs one case against tg and checks the close it gets: the right
// code, a reason, within a bounded time, then the TCP connection closed.
func (hf hostileFrame) send(tg *target) error {
	var headers []string
	if hf.deflate {
		headers = append(headers, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover")
	}
	c, err := wstest.Dial(tg.addr, "/echo", headers...)
	if err != nil {
		return err
	}
	defer c.Close()
	if hf.deflate && c.Resp.Header.Get("Sec-WebSocket-Extensions") == "" {
		return fmt.Errorf("compression not negotiated")
	}
	start := time.Now()
	for _, b := range hf.wire {
		if _, err := c.Write(b); err != nil {
			break // the server may close before reading everything
		}
	}
	f, err := c.ExpectClose(5 * time.Second)
	if err != nil {
		return err
	}
	if f.CloseCode() != hf.wantCode {
		return fmt.Errorf("closed with %d %q, want %d", f.CloseCode(), f.CloseReason(), hf.wantCode)
	}
	if f.CloseReason() == "" {
		return fmt.Errorf("closed with %d and no reason", f.CloseCode())
	}
	_ = c.WriteClose(f.CloseCode(), "")
	if err := c.ExpectEOF(5 * time.Second); err != nil {
		return err
	}
	if d := time.Since(start); d > 5*time.Second {
		return fmt.Errorf("took %v", d)
	}
	return nil
}

// TestHostileFrames sends each kind of hostile frame after a valid
// handshake: the server closes with the right code and a reason, within
// a bounded time, and stays healthy.
func TestHostileFrames(t *testing.T) {
	t.Parallel()
	tg := startTarget(t, service.Options{ReadLimit: frameLimit, Compression: true}, 2*time.Second)
	for _, hf := range hostileFrames() {
		t.Run(hf.name, func(t *testing.T) {
			if err := hf.send(tg); err != nil {
				t.Fatal(err)
			}
		})
	}
	tg.healthy(t)
}

// TestHostileFramesFreeMemory sends every hostile frame many times, many
// at once, and checks that goroutines and the live heap come back to
// where they were: nothing a hostile client sent stays behind.
func TestHostileFramesFreeMemory(t *testing.T) {
	wstest.Long(t)
	tg := startTarget(t, service.Options{ReadLimit: frameLimit, Compression: true}, 2*time.Second)
	tg.healthy(t) // let the server's own goroutines start
	cases := hostileFrames()
	const rounds = 20
	before := measure()
	for range rounds {
		var wg sync.WaitGroup
		errs := make(chan error, len(cases))
		for _, hf := range cases {
			wg.Go(func() {
				if err := hf.send(tg); err != nil {
					errs <- fmt.Errorf("%s: %w", hf.name, err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	t.Logf("%d hostile connections", rounds*len(cases))
	before.returnsTo(t, 10*time.Second, 2, 1<<20)
	tg.healthy(t)
}
