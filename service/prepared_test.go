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

	"github.com/wsmap/wsmap/internal/prepared"
	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
)

// TestPreparedSend sends one prepared message to several connections of
// each kind and checks that every receiver gets it whole.
func TestPreparedSend(t *testing.T) {
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
			pm, err := prepared.New(tc.typ, payload)
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
					return senderOf(c).Send(ctx, pm)
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
				} else if err := senderOf(c).Send(ctx, pm); err != nil {
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

// TestPreparedSendCompressesOnWire checks, on the wire, that a prepared
// message goes out compressed to a peer that negotiated compression, and
// plain to one that did not.
func TestPreparedSendCompressesOnWire(t *testing.T) {
	t.Parallel()
	payload := []byte(strings.Repeat("compress me ", 1000))
	pm, err := prepared.New(protocol.Text, payload)
	if err != nil {
		t.Fatal(err)
	}
	_, addr := serveFunc(t, Options{Compression: true}, func(ctx context.Context, c *Conn) error {
		if err := senderOf(c).Send(ctx, pm); err != nil {
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

// TestPreparedSendDoesNotAllocate checks that sending a prepared message
// on a server connection without compression allocates nothing, which
// is what lets a broadcast cost nothing per member beyond the write.
func TestPreparedSendDoesNotAllocate(t *testing.T) {
	pm, err := prepared.New(protocol.Text, []byte(strings.Repeat("x", 64)))
	if err != nil {
		t.Fatal(err)
	}
	allocs := make(chan float64, 1)
	_, addr := serveFunc(t, Options{PingInterval: -1}, func(ctx context.Context, c *Conn) error {
		// As package room sends: the connection's Sender, got once, and
		// a slice of messages it holds.
		s, ms := senderOf(c), []*prepared.Message{pm}
		allocs <- testing.AllocsPerRun(200, func() {
			if err := s.Send(ctx, ms...); err != nil {
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
		t.Errorf("Send allocates %v times per call, want 0", n)
	}
}

// TestPreparedSendMany sends several prepared messages in one call, small
// ones that share a write and large ones that do not, and checks that
// each arrives whole, as a message of its own, in order.
func TestPreparedSendMany(t *testing.T) {
	t.Parallel()
	var pms []*prepared.Message
	var want [][]byte
	for i, n := range []int{0, 10, 125, 126, 1000, 3000, 4096, 5000, 20, 70000, 1, 2, 3} {
		p := bytes.Repeat([]byte{byte('a' + i)}, n)
		pm, err := prepared.New(protocol.Binary, p)
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
			// it: the count is read once Send has returned.
			counted := make(chan int64, 1)
			url, _ := serveFunc(t, Options{Compression: compress}, func(ctx context.Context, c *Conn) error {
				c.Observe(sentCounter{&sent})
				err := senderOf(c).Send(ctx, pms...)
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
				t.Fatal("Send did not return")
			}
		})
	}
}

// sentCounter is an Observer that counts the messages sent.
type sentCounter struct{ n *atomic.Int64 }

func (s sentCounter) Received(protocol.MessageType, int) error { return nil }
func (s sentCounter) Sent(protocol.MessageType, int)           { s.n.Add(1) }

// senderOf is c's prepared.Sender, as package room gets it.
func senderOf(c *Conn) prepared.Sender {
	s, ok := prepared.SenderOf(c.Context())
	if !ok {
		panic("service: a connection's context holds no prepared.Sender")
	}
	return s
}

// TestContextHoldsSender: a connection's context, and every context made
// from it, holds the connection's prepared.Sender, on both sides; it
// keeps the values of the context the connection was opened with, and
// is not ended by that context's end.
func TestContextHoldsSender(t *testing.T) {
	t.Parallel()
	type key struct{}
	check := func(side string, c *Conn, ctx context.Context) {
		t.Helper()
		for _, ctx := range []context.Context{c.Context(), ctx} {
			s, ok := prepared.SenderOf(ctx)
			if !ok || s != prepared.Sender((*sender)(c)) {
				t.Errorf("%s: the context holds %v, %t, not the connection's Sender", side, s, ok)
			}
		}
	}
	done := make(chan struct{})
	wsURL, _ := serve(t, &Endpoint{Handler: HandlerFunc(func(ctx context.Context, c *Conn) error {
		defer close(done)
		check("server", c, ctx)
		return nil
	})})
	opened, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "opened with"))
	c, _, err := Dial(opened, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	child, stop := context.WithTimeout(c.Context(), time.Minute)
	defer stop()
	check("client", c, child)
	if c.Context().Value(key{}) != "opened with" {
		t.Error("client: the value of the context the connection was opened with is lost")
	}
	if err := c.Context().Err(); err != nil {
		t.Errorf("client: the connection's context ended with the one it was opened with: %v", err)
	}
	<-done
	_ = c.Close(protocol.CloseNormal, "")
}
