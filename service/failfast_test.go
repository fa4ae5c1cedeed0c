package service

import (
	"context"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/wstest"
)

// TestFailFast checks that a connection wsmap fails for a violation sends
// its close frame and closes TCP at once (RFC 6455 section 7.1.7), without
// waiting for a close reply the test never sends, whether the handler
// reads directly or through the read loop.
func TestFailFast(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		wire []byte
		code int
	}{
		// A text frame declaring 100 bytes, of which 6 arrive, the last
		// invalid UTF-8; the other 94 never come.
		{"invalid UTF-8 mid-frame, rest withheld", wstest.EncodeLen(wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("hello\xff")}, 100, false), 1007},
		{"reserved opcode", wstest.Encode(wstest.Frame{Fin: true, Opcode: 0x3}), 1002},
		{"reserved bit", wstest.Encode(wstest.Frame{Fin: true, RSV: 2, Opcode: wstest.OpText, Payload: []byte("x")}), 1002},
		{"RSV1 on a control frame", wstest.Encode(wstest.Frame{Fin: true, RSV: 4, Opcode: wstest.OpPing}), 1002},
		{"oversized declared length", wstest.EncodeLen(wstest.Frame{Fin: true, Opcode: wstest.OpBinary}, 1<<40, true), 1009},
	}
	modes := []struct {
		name string
		ctx  func(ctx context.Context) (context.Context, context.CancelFunc)
	}{
		{"direct", func(ctx context.Context) (context.Context, context.CancelFunc) { return ctx, func() {} }},
		{"loop", func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, time.Minute)
		}},
	}
	for _, tt := range tests {
		for _, mode := range modes {
			t.Run(tt.name+"/"+mode.name, func(t *testing.T) {
				t.Parallel()
				_, addr := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
					rctx, cancel := mode.ctx(ctx)
					defer cancel()
					_, _, err := c.Recv(rctx)
					return err
				})
				rc := rawDial(t, addr)
				wire := tt.wire // shared by the modes' subtests: never written to
				if tt.code == 1007 {
					// The payload is sent unmasked above so that a masked
					// header can be written by hand: mask it with zeros.
					masked := append([]byte{}, wire[:2]...)
					masked[1] |= 0x80
					masked = append(masked, 0, 0, 0, 0)
					wire = append(masked, wire[2:]...)
				}
				if _, err := rc.Write(wire); err != nil {
					t.Fatal(err)
				}
				f, err := rc.ExpectClose(5 * time.Second)
				if err != nil {
					t.Fatal(err)
				}
				closed := time.Now()
				if f.CloseCode() != tt.code {
					t.Errorf("closed with %d %q, want %d", f.CloseCode(), f.CloseReason(), tt.code)
				}
				if err := rc.ExpectEOF(time.Second); err != nil {
					t.Fatal(err)
				}
				if d := time.Since(closed); d > 200*time.Millisecond {
					t.Errorf("TCP closed %v after the close frame, want within 200ms", d)
				}
			})
		}
	}
}
