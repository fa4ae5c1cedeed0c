package service

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/prepared"
	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service/internal/wire"
)

// TestPreparedTrySendWhen checks when TrySend writes at once and
// when it leaves the message to Send.
func TestPreparedTrySendWhen(t *testing.T) {
	small, err := prepared.New(protocol.Text, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	large, err := prepared.New(protocol.Binary, bytes.Repeat([]byte{'x'}, wire.ChunkSize))
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		name string
		got  bool
	}
	tests := []struct {
		name     string
		compress bool
		steps    func(ctx context.Context, c *Conn) []result
		want     []bool
	}{
		{
			name: "idle",
			steps: func(ctx context.Context, c *Conn) []result {
				return []result{{"idle", senderOf(c).TrySend(small) == 1}}
			},
			want: []bool{true},
		},
		{
			name: "over 4 KiB",
			steps: func(ctx context.Context, c *Conn) []result {
				return []result{{"large", senderOf(c).TrySend(large) == 1}}
			},
			want: []bool{false},
		},
		{
			name: "while a Writer is open",
			steps: func(ctx context.Context, c *Conn) []result {
				w, err := c.Writer(ctx, protocol.Text)
				if err != nil {
					panic(err)
				}
				during := senderOf(c).TrySend(small) == 1
				_, _ = w.Write([]byte("streamed"))
				_ = w.Close()
				return []result{{"during", during}, {"after", senderOf(c).TrySend(small) == 1}}
			},
			want: []bool{false, true},
		},
		{
			name:     "compressed",
			compress: true,
			steps: func(ctx context.Context, c *Conn) []result {
				return []result{{"compressed", senderOf(c).TrySend(small) == 1}}
			},
			want: []bool{false},
		},
		{
			name: "closing",
			steps: func(ctx context.Context, c *Conn) []result {
				c.beginClose(&CloseError{Code: protocol.CloseNormal}, false)
				return []result{{"closing", senderOf(c).TrySend(small) == 1}}
			},
			want: []bool{false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results := make(chan []result, 1)
			url, _ := serveFunc(t, Options{Compression: tt.compress}, func(ctx context.Context, c *Conn) error {
				results <- tt.steps(ctx, c)
				_, _, err := c.Recv(ctx)
				return err
			})
			c := dial(t, url, &DialOptions{Options: &Options{Compression: tt.compress}})
			ctx := testCtx(t, 10*time.Second)
			var got []result
			select {
			case got = <-results:
			case <-ctx.Done():
				t.Fatal("the handler did not report")
			}
			sent := 0
			for i, r := range got {
				if r.got != tt.want[i] {
					t.Errorf("%s: TrySend = %v, want %v", r.name, r.got, tt.want[i])
				}
				if r.got {
					sent++
				}
			}
			if tt.name == "closing" {
				return
			}
			// What was sent arrives, a Writer's message where it was.
			for range sent {
				_, data, err := c.Recv(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if string(data) == "streamed" {
					_, data, err = c.Recv(ctx)
					if err != nil {
						t.Fatal(err)
					}
				}
				if string(data) != "hello" {
					t.Errorf("received %q, want hello", data)
				}
			}
		})
	}

	t.Run("several at once", func(t *testing.T) {
		var ps []*prepared.Message
		for i := range 50 {
			pm, err := prepared.New(protocol.Text, []byte(fmt.Sprintf("message %02d %s", i, bytes.Repeat([]byte{'y'}, 200))))
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, pm)
		}
		ps = append(ps, large, small)
		sent := make(chan int, 1)
		url, _ := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
			n := senderOf(c).TrySend(ps...)
			sent <- n
			if err := senderOf(c).Send(ctx, ps[n:]...); err != nil {
				return err
			}
			_, _, err := c.Recv(ctx)
			return err
		})
		c := dial(t, url, nil)
		ctx := testCtx(t, 10*time.Second)
		// 50 messages of 212 B take three chunks; the one over 4 KiB
		// and what follows it are left to Send.
		if n := <-sent; n != 50 {
			t.Errorf("TrySend of 50 small messages, a large one and a small one sent %d, want 50", n)
		}
		for i, want := range ps {
			_, data, err := c.Recv(ctx)
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			if _, wantData := want.Frame(); !bytes.Equal(data, wantData) {
				t.Fatalf("message %d: %.20q, want %.20q", i, data, wantData)
			}
		}
	})

	t.Run("client", func(t *testing.T) {
		got := make(chan string, 1)
		url, _ := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
			_, data, err := c.Recv(ctx)
			got <- string(data)
			return err
		})
		c := dial(t, url, nil)
		// A client writes at once where its frame writer writes its
		// frames, masked, and never where gorilla does.
		want := 0
		if c.fw != nil {
			want = 1
		}
		n := senderOf(c).TrySend(small)
		if n != want {
			t.Fatalf("TrySend on a client connection sent %d, want %d", n, want)
		}
		if n == 0 {
			if err := senderOf(c).Send(context.Background(), small); err != nil {
				t.Fatal(err)
			}
		}
		if data := <-got; data != "hello" {
			t.Errorf("the server received %q, want hello", data)
		}
	})
}

// TestPreparedTrySendFullSocket fills a connection's socket with
// TrySend while the client reads nothing, until the socket takes
// a frame only in part and the rest goes out from a goroutine of its
// own; then the client reads every message, whole and in order, with one
// sent by Send after them. A Unix socket with a small send
// buffer splits a frame's write where TCP over loopback would take all
// or nothing.
func TestPreparedTrySendFullSocket(t *testing.T) {
	// How much of a frame the socket takes depends on how the system
	// accounts for its buffers: several frame sizes make a split frame
	// certain.
	var tails int64
	for size := 1000; size <= 4000; size += 250 {
		tails += fillSocket(t, size)
	}
	if tails == 0 {
		t.Error("no frame was written in part; the test did not reach the case it is for")
	}
}

// fillSocket runs TestPreparedTrySendFullSocket with messages of size
// bytes and returns how many were written in part at once.
func fillSocket(t *testing.T, size int) int64 {
	var sent, tails, tried atomic.Int64
	filled := make(chan struct{})
	h := HandlerFunc(func(ctx context.Context, c *Conn) error {
		if uc, ok := c.guard.Conn.(*net.UnixConn); ok {
			_ = uc.SetWriteBuffer(1) // the least the system allows
		}
		c.Observe(sentCounter{&sent})
		n := 0
		for i := 0; i < 100000; i++ {
			p := make([]byte, size)
			binary.BigEndian.PutUint32(p, uint32(i))
			pm, err := prepared.New(protocol.Binary, p)
			if err != nil {
				return err
			}
			if senderOf(c).TrySend(pm) == 0 {
				break
			}
			n++
			// Nobody reads, so the rest of a split frame waits.
			if c.writeMu.TryLock() {
				c.writeMu.Unlock()
			} else {
				tails.Add(1)
			}
		}
		end, err := prepared.New(protocol.Text, []byte(fmt.Sprintf("end %d", n)))
		if err != nil {
			return err
		}
		tried.Store(int64(n))
		close(filled)
		if err := senderOf(c).Send(ctx, end); err != nil {
			return err
		}
		_, _, err = c.Recv(ctx)
		return err
	})
	sock := filepath.Join(t.TempDir(), "ws.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(&Endpoint{Handler: h})
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rc, err := wstest.Handshake(nc, "localhost", "/")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-filled:
	case <-time.After(10 * time.Second):
		t.Fatalf("size %d: the socket never filled", size)
	}
	for i := 0; ; i++ {
		op, data, err := rc.ReadMessage(10 * time.Second)
		if err != nil {
			t.Fatalf("size %d, message %d: %v", size, i, err)
		}
		if op == 1 { // text: the end
			if want := fmt.Sprintf("end %d", i); string(data) != want {
				t.Fatalf("size %d: got %q after %d messages, want %q", size, data, i, want)
			}
			break
		}
		if len(data) != size || binary.BigEndian.Uint32(data) != uint32(i) || strings.Trim(string(data[4:]), "\x00") != "" {
			t.Fatalf("size %d, message %d: %d bytes numbered %d, want %d bytes numbered %d", size, i, len(data), binary.BigEndian.Uint32(data), size, i)
		}
	}
	if err := rc.WriteClose(1000, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.ExpectClose(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	// Observers count a split frame too, once its rest is out.
	if got, want := sent.Load(), tried.Load()+1; got != want {
		t.Errorf("size %d: observers saw %d messages sent, want %d", size, got, want)
	}
	return tails.Load()
}
