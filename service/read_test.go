package service

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
)

// TestBadInputClosesWithCode sends each kind of bad input on a raw socket
// and checks the close code the server answers with, and what the handler
// saw.
func TestBadInputClosesWithCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		frames []wstest.Frame
		want   int
	}{
		{"invalid UTF-8 text", []wstest.Frame{{Fin: true, Opcode: wstest.OpText, Payload: []byte("ok \xff")}}, 1007},
		{"invalid UTF-8 split across fragments", []wstest.Frame{
			{Opcode: wstest.OpText, Payload: []byte("ab\xe2\x82")},
			{Fin: true, Opcode: wstest.OpContinuation, Payload: []byte("\x28")},
		}, 1007},
		{"truncated UTF-8 at end", []wstest.Frame{{Fin: true, Opcode: wstest.OpText, Payload: []byte("ab\xe2\x82")}}, 1007},
		{"oversized message", []wstest.Frame{{Fin: true, Opcode: wstest.OpBinary, Payload: make([]byte, 2000)}}, 1009},
		{"oversized in fragments", []wstest.Frame{
			{Opcode: wstest.OpBinary, Payload: make([]byte, 600)},
			{Opcode: wstest.OpContinuation, Payload: make([]byte, 600)},
			{Fin: true, Opcode: wstest.OpContinuation, Payload: make([]byte, 600)},
		}, 1009},
		{"invalid close code 999", []wstest.Frame{{Fin: true, Opcode: wstest.OpClose, Payload: []byte{0x03, 0xE7}}}, 1002},
		{"reserved close code 1005 on the wire", []wstest.Frame{{Fin: true, Opcode: wstest.OpClose, Payload: []byte{0x03, 0xED}}}, 1002},
		{"close code 5000", []wstest.Frame{{Fin: true, Opcode: wstest.OpClose, Payload: []byte{0x13, 0x88}}}, 1002},
		{"reserved bit", []wstest.Frame{{Fin: true, RSV: 2, Opcode: wstest.OpText, Payload: []byte("x")}}, 1002},
		{"reserved opcode", []wstest.Frame{{Fin: true, Opcode: 0x3}}, 1002},
		{"fragmented ping", []wstest.Frame{{Fin: false, Opcode: wstest.OpPing}}, 1002},
		{"continuation without start", []wstest.Frame{{Fin: true, Opcode: wstest.OpContinuation, Payload: []byte("x")}}, 1002},
		{"oversized ping", []wstest.Frame{{Fin: true, Opcode: wstest.OpPing, Payload: make([]byte, 126)}}, 1002},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			seen := make(chan result, 1)
			_, addr := serveFunc(t, Options{ReadLimit: 1024}, func(ctx context.Context, c *Conn) error {
				_, _, err := c.Recv(ctx)
				code, reason := CloseStatus(err)
				seen <- result{code: int(code), reason: reason, err: err}
				return err
			})
			rc := rawDial(t, addr)
			for _, f := range tt.frames {
				if err := rc.WriteFrame(f); err != nil {
					t.Fatal(err)
				}
			}
			f, err := rc.ExpectClose(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if f.CloseCode() != tt.want {
				t.Errorf("server closed with %d %q, want %d", f.CloseCode(), f.CloseReason(), tt.want)
			}
			// Complete the handshake; the server then drops TCP.
			_ = rc.WriteClose(f.CloseCode(), "")
			if err := rc.ExpectEOF(5 * time.Second); err != nil {
				t.Error(err)
			}
			r := waitResult(t, seen, 5*time.Second)
			if r.code != tt.want {
				t.Errorf("handler's Recv saw %d (%v), want %d", r.code, r.err, tt.want)
			}
		})
	}
}

func TestHugeDeclaredLength(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		n      uint64
		code   int
		reason string
	}{
		{1 << 40, 1009, "message too big: 1099511627776 bytes, limit 1048576"},
		{1<<63 - 1, 1009, "message too big: 9223372036854775807 bytes, limit 1048576"},
		{1<<63 + 5, 1002, "frame length has its most significant bit set"},
	} {
		n := tt.n
		_, addr := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
			_, _, err := c.Recv(ctx)
			return err
		})
		rc := rawDial(t, addr)
		if _, err := rc.Write(wstest.EncodeLen(wstest.Frame{Fin: true, Opcode: wstest.OpBinary}, n, true)); err != nil {
			t.Fatal(err)
		}
		f, err := rc.ExpectClose(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if f.CloseCode() != tt.code || f.CloseReason() != tt.reason {
			t.Errorf("length %d: closed with %d %q, want %d %q", n, f.CloseCode(), f.CloseReason(), tt.code, tt.reason)
		}
		if err := rc.ExpectEOF(5 * time.Second); err != nil {
			t.Error(err)
		}
	}
}

func TestCompressionLimitAppliesAfterDecompression(t *testing.T) {
	t.Parallel()
	opts := Options{Compression: true, ReadLimit: 64 << 10}
	seen := make(chan result, 2)
	url, _ := serveFunc(t, opts, func(ctx context.Context, c *Conn) error {
		for {
			_, data, err := c.Recv(ctx)
			if err != nil {
				code, _ := CloseStatus(err)
				seen <- result{code: int(code), err: err}
				return err
			}
			seen <- result{code: len(data)}
			if err := c.Send(ctx, protocol.Binary, data); err != nil {
				return err
			}
		}
	})
	c := dial(t, url, &DialOptions{Options: &Options{Compression: true, ReadLimit: 64 << 10}})
	ctx := testCtx(t, 10*time.Second)
	// Within the limit: compressed both ways and intact.
	small := bytes.Repeat([]byte("compress me "), 1000)
	if err := c.Send(ctx, protocol.Binary, small); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.Recv(ctx); err != nil || !bytes.Equal(got, small) {
		t.Fatalf("echo of %d bytes: %d bytes, %v", len(small), len(got), err)
	}
	if r := <-seen; r.code != len(small) {
		t.Fatalf("server got %d bytes", r.code)
	}
	// A bomb: 10 MiB of zeros is about 10 KiB compressed, far under the
	// wire limit, but over the limit once decompressed.
	// The server may close before the client finishes sending.
	if err := c.Send(ctx, protocol.Binary, make([]byte, 10<<20)); err != nil {
		if code, _ := CloseStatus(err); code != 1009 {
			t.Fatal(err)
		}
	}
	r := <-seen
	if r.code != 1009 {
		t.Errorf("bomb: server saw %d (%v), want 1009", r.code, r.err)
	}
	_, _, err := c.Recv(ctx)
	if code, _ := CloseStatus(err); code != 1009 {
		t.Errorf("bomb: client saw %v, want 1009", err)
	}
}

func TestRecvContextCancelKeepsConnection(t *testing.T) {
	t.Parallel()
	url, _ := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
		time.Sleep(300 * time.Millisecond)
		if err := c.Send(ctx, protocol.Text, []byte("late")); err != nil {
			return err
		}
		_, _, err := c.Recv(ctx)
		return err
	})
	c := dial(t, url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := c.Recv(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Recv: %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("Recv returned %v after its deadline", d)
	}
	// The connection is intact and the message is not lost.
	_, data, err := c.Recv(testCtx(t, 5*time.Second))
	if err != nil || string(data) != "late" {
		t.Fatalf("Recv after a cancelled Recv: %q, %v", data, err)
	}
}

func TestReaderStreamsLargeMessage(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	url, _ := serveFunc(t, Options{ReadLimit: 4 << 20}, func(ctx context.Context, c *Conn) error {
		w, err := c.Writer(ctx, protocol.Binary)
		if err != nil {
			return err
		}
		for chunk := range slices.Chunk(big, 100_000) {
			if _, err := w.Write(chunk); err != nil {
				return err
			}
		}
		if err := w.Close(); err != nil {
			return err
		}
		if err := c.Send(ctx, protocol.Text, []byte("after")); err != nil {
			return err
		}
		if err := c.Send(ctx, protocol.Text, []byte("skipped in part")); err != nil {
			return err
		}
		if err := c.Send(ctx, protocol.Text, []byte("last")); err != nil {
			return err
		}
		_, _, err = c.Recv(ctx)
		return err
	})
	c := dial(t, url, &DialOptions{Options: &Options{ReadLimit: 4 << 20}})
	ctx := testCtx(t, 10*time.Second)
	typ, r, err := c.Reader(ctx)
	if err != nil || typ != protocol.Binary {
		t.Fatalf("Reader: %v %v", typ, err)
	}
	got, err := io.ReadAll(io.LimitReader(r, 1<<30))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("streamed %d bytes, %v; want %d", len(got), err, len(big))
	}
	if _, data, err := c.Recv(ctx); err != nil || string(data) != "after" {
		t.Fatalf("Recv after stream: %q %v", data, err)
	}
	// A stream read in part is discarded by the next Recv.
	_, r, err = c.Reader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(r, buf); err != nil || string(buf) != "skip" {
		t.Fatalf("partial read %q %v", buf, err)
	}
	if _, data, err := c.Recv(ctx); err != nil || string(data) != "last" {
		t.Fatalf("Recv after partial stream: %q %v", data, err)
	}
	if _, err := r.Read(buf); err == nil {
		t.Error("stale reader still reads")
	}
}

func TestReaderEnforcesLimitAndUTF8(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		frame wstest.Frame
		want  int
	}{
		{"limit", wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Payload: make([]byte, 3000)}, 1009},
		{"utf8", wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte(strings.Repeat("é", 100) + "\xc3")}, 1007},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			seen := make(chan result, 1)
			_, addr := serveFunc(t, Options{ReadLimit: 1000}, func(ctx context.Context, c *Conn) error {
				_, r, err := c.Reader(ctx)
				if err == nil {
					_, err = io.Copy(io.Discard, r)
				}
				code, _ := CloseStatus(err)
				seen <- result{code: int(code), err: err}
				return err
			})
			rc := rawDial(t, addr)
			_ = rc.WriteFrame(tt.frame)
			f, err := rc.ExpectClose(5 * time.Second)
			if err != nil || f.CloseCode() != tt.want {
				t.Fatalf("close %d, %v; want %d", f.CloseCode(), err, tt.want)
			}
			if r := waitResult(t, seen, 5*time.Second); r.code != tt.want {
				t.Errorf("reader saw %d (%v), want %d", r.code, r.err, tt.want)
			}
		})
	}
}
