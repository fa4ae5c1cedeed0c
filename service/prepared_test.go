package service

import (
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
)

// TestSendPrepared sends one PreparedMessage to several connections of
// each kind and checks that every receiver gets it whole.
func TestSendPrepared(t *testing.T) {
	t.Parallel()
	payload := []byte(strings.Repeat("prepared once, sent to many. ", 400))
	for _, tc := range []struct {
		name     string
		fromSide string // "server" or "client": which end sends
		compress bool
		typ      protocol.MessageType
	}{
		{"server", "server", false, protocol.Text},
		{"server compressed", "server", true, protocol.Text},
		{"client", "client", false, protocol.Binary},
		{"client compressed", "client", true, protocol.Binary},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pm, err := NewPreparedMessage(tc.typ, payload)
			if err != nil {
				t.Fatal(err)
			}
			if pm.Type() != tc.typ || pm.Len() != len(payload) {
				t.Fatalf("Type, Len = %v, %d; want %v, %d", pm.Type(), pm.Len(), tc.typ, len(payload))
			}
			type got struct {
				Type protocol.MessageType
				Data []byte
			}
			received := make(chan got, 3)
			url, _ := serveFunc(t, Options{Compression: tc.compress}, func(ctx context.Context, c *Conn) error {
				if tc.fromSide == "server" {
					return c.SendPrepared(ctx, pm)
				}
				typ, data, err := c.Recv(ctx)
				if err != nil {
					return err
				}
				received <- got{typ, data}
				return nil
			})
			ctx := testCtx(t, 10*time.Second)
			for range 3 {
				c := dial(t, url, &DialOptions{Options: &Options{Compression: tc.compress}})
				if c.compressed != tc.compress {
					t.Fatalf("compression negotiated: %v, want %v", c.compressed, tc.compress)
				}
				if tc.fromSide == "server" {
					typ, data, err := c.Recv(ctx)
					if err != nil {
						t.Fatal(err)
					}
					received <- got{typ, data}
				} else if err := c.SendPrepared(ctx, pm); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 3 {
				var g got
				select {
				case g = <-received:
				case <-ctx.Done():
					t.Fatalf("receiver %d got nothing: %v", i, ctx.Err())
				}
				if diff := cmp.Diff(got{tc.typ, payload}, g); diff != "" {
					t.Errorf("receiver %d (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

// TestSendPreparedCompressesOnWire checks, on the wire, that a prepared
// message goes out compressed to a peer that negotiated compression, and
// plain to one that did not.
func TestSendPreparedCompressesOnWire(t *testing.T) {
	t.Parallel()
	payload := []byte(strings.Repeat("compress me ", 1000))
	pm, err := NewPreparedMessage(protocol.Text, payload)
	if err != nil {
		t.Fatal(err)
	}
	_, addr := serveFunc(t, Options{Compression: true}, func(ctx context.Context, c *Conn) error {
		if err := c.SendPrepared(ctx, pm); err != nil {
			return err
		}
		_, _, err := c.Recv(ctx)
		return err
	})
	for _, tc := range []struct {
		name    string
		headers []string
		rsv     byte
	}{
		{"deflate", []string{"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover"}, 0x4},
		{"plain", nil, 0},
	} {
		c := rawDial(t, addr, tc.headers...)
		f, err := c.ReadFrame(5 * time.Second)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if f.RSV != tc.rsv || f.Opcode != wstest.OpText || !f.Fin {
			t.Fatalf("%s: frame fin=%v rsv=%#x opcode=%#x, want fin, rsv %#x, text", tc.name, f.Fin, f.RSV, f.Opcode, tc.rsv)
		}
		data := f.Payload
		if tc.rsv != 0 {
			if len(data) >= len(payload)/10 {
				t.Errorf("%s: %d bytes on the wire for %d repetitive bytes: not compressed", tc.name, len(data), len(payload))
			}
			// RFC 7692 section 7.2.2: the sender removed the final
			// 0x00 0x00 0xff 0xff.
			data, err = io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(data), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}))))
			if err != nil {
				t.Fatalf("%s: inflate: %v", tc.name, err)
			}
		}
		if !bytes.Equal(data, payload) {
			t.Errorf("%s: payload differs (%d bytes, want %d)", tc.name, len(data), len(payload))
		}
	}
}

// TestSendPreparedDoesNotAllocate checks that sending a prepared message
// on a server connection without compression allocates nothing, which
// is what lets a broadcast cost nothing per member beyond the write.
func TestSendPreparedDoesNotAllocate(t *testing.T) {
	pm, err := NewPreparedMessage(protocol.Text, []byte(strings.Repeat("x", 64)))
	if err != nil {
		t.Fatal(err)
	}
	allocs := make(chan float64, 1)
	_, addr := serveFunc(t, Options{PingInterval: -1}, func(ctx context.Context, c *Conn) error {
		allocs <- testing.AllocsPerRun(200, func() {
			if err := c.SendPrepared(ctx, pm); err != nil {
				panic(err)
			}
		})
		return nil
	})
	c := rawDial(t, addr)
	go func() {
		for {
			if _, err := c.SkipFrame(); err != nil {
				return
			}
		}
	}()
	if n := <-allocs; n != 0 {
		t.Errorf("SendPrepared allocates %v times per call, want 0", n)
	}
}

// TestSendPreparedMany sends several prepared messages in one call, small
// ones that share a write and large ones that do not, and checks that
// each arrives whole, as a message of its own, in order.
func TestSendPreparedMany(t *testing.T) {
	t.Parallel()
	var pms []*PreparedMessage
	var want [][]byte
	for i, n := range []int{0, 10, 125, 126, 1000, 3000, 4096, 5000, 20, 70000, 1, 2, 3} {
		p := bytes.Repeat([]byte{byte('a' + i)}, n)
		pm, err := NewPreparedMessage(protocol.Binary, p)
		if err != nil {
			t.Fatal(err)
		}
		pms, want = append(pms, pm), append(want, p)
	}
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compression=%v", compress), func(t *testing.T) {
			t.Parallel()
			var sent atomic.Int64
			// Observers hear of a message after its write returns, so the
			// client can hold the last message before the count includes
			// it: the count is read once SendPrepared has returned.
			counted := make(chan int64, 1)
			url, _ := serveFunc(t, Options{Compression: compress}, func(ctx context.Context, c *Conn) error {
				c.Observe(sentCounter{&sent})
				err := c.SendPrepared(ctx, pms...)
				counted <- sent.Load()
				if err != nil {
					return err
				}
				_, _, err = c.Recv(ctx) // until the client closes
				return err
			})
			c := dial(t, url, &DialOptions{Options: &Options{Compression: compress}})
			ctx := testCtx(t, 10*time.Second)
			for i, w := range want {
				typ, data, err := c.Recv(ctx)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if typ != protocol.Binary || !bytes.Equal(data, w) {
					t.Fatalf("message %d: %v of %d bytes, want binary of %d", i, typ, len(data), len(w))
				}
			}
			select {
			case n := <-counted:
				if n != int64(len(want)) {
					t.Errorf("observers saw %d messages sent, want %d", n, len(want))
				}
			case <-ctx.Done():
				t.Fatal("SendPrepared did not return")
			}
		})
	}
}

// sentCounter is an Observer that counts the messages sent.
type sentCounter struct{ n *atomic.Int64 }

func (s sentCounter) Received(protocol.MessageType, int) error { return nil }
func (s sentCounter) Sent(protocol.MessageType, int)           { s.n.Add(1) }
