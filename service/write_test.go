package service

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
)

// blockSender sends 256 KiB messages to a peer that reads nothing until a
// Send fails, and reports that error and how long the failing Send took.
func blockSender(ctx context.Context, c *Conn) (time.Duration, error) {
	msg := make([]byte, 256<<10)
	for {
		start := time.Now()
		if err := c.Send(ctx, protocol.Binary, msg); err != nil {
			return time.Since(start), err
		}
	}
}

func TestSendReturnsWhenContextEnds(t *testing.T) {
	t.Parallel()
	type obs struct {
		err     error
		elapsed time.Duration
		state   State
	}
	out := make(chan obs, 1)
	_, addr := serveFunc(t, Options{WriteTimeout: time.Minute}, func(ctx context.Context, c *Conn) error {
		sctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(300*time.Millisecond, cancel)
		start := time.Now()
		_, err := blockSender(sctx, c)
		<-c.Done()
		out <- obs{err, time.Since(start), c.State()}
		return nil
	})
	_ = rawDial(t, addr) // never reads
	o := <-out
	if !errors.Is(o.err, context.Canceled) || !errors.Is(o.err, ErrClosed) {
		t.Errorf("Send error %v, want it to wrap context.Canceled and ErrClosed", o.err)
	}
	if o.elapsed > 3*time.Second {
		t.Errorf("Send returned %v after start, its context ended at 300ms", o.elapsed)
	}
	if o.state != StateClosed {
		t.Errorf("state %v after an interrupted write, want closed", o.state)
	}
}

func TestSendWithEndedContextLeavesConnectionOpen(t *testing.T) {
	t.Parallel()
	type obs struct {
		errs  []error
		state State
	}
	out := make(chan obs, 1)
	url, _ := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
		ended, cancel := context.WithCancel(ctx)
		cancel()
		var o obs
		for range 100 { // the lock is free each time: no chance involved
			o.errs = append(o.errs, c.Send(ended, protocol.Text, []byte("never")))
		}
		o.state = c.State()
		err := c.Send(ctx, protocol.Text, []byte("after"))
		out <- o
		return err
	})
	c := dial(t, url, nil)
	_, data, err := c.Recv(context.Background())
	if err != nil || string(data) != "after" {
		t.Fatalf("Recv = %q, %v; want the message sent after the refused ones", data, err)
	}
	o := <-out
	for i, err := range o.errs {
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrClosed) {
			t.Fatalf("Send %d with an ended context: %v, want context.Canceled and the connection open", i, err)
		}
	}
	if o.state != StateOpen {
		t.Errorf("state %v after sends with an ended context, want open", o.state)
	}
}

func TestWriteTimeoutEndsConnection(t *testing.T) {
	t.Parallel()
	const writeTimeout = 300 * time.Millisecond
	type obs struct {
		sendErr, otherErr error
		took              time.Duration
	}
	out := make(chan obs, 1)
	_, addr := serveFunc(t, Options{WriteTimeout: writeTimeout}, func(ctx context.Context, c *Conn) error {
		// A second sender queued behind the blocked one is released too.
		other := make(chan error, 1)
		go func() {
			time.Sleep(50 * time.Millisecond)
			other <- c.Send(context.Background(), protocol.Text, []byte("queued"))
		}()
		took, err := blockSender(context.Background(), c)
		out <- obs{err, <-other, took}
		return nil
	})
	_ = rawDial(t, addr) // never reads
	o := <-out
	if code, _ := CloseStatus(o.sendErr); !errors.Is(o.sendErr, ErrClosed) || code != 0 && code != protocol.CloseAbnormal {
		t.Errorf("blocked Send: %v, want a write error wrapping ErrClosed", o.sendErr)
	}
	if o.took > writeTimeout+2*time.Second {
		t.Errorf("blocked Send took %v, write timeout %v", o.took, writeTimeout)
	}
	if !errors.Is(o.otherErr, ErrClosed) {
		t.Errorf("queued Send: %v, want ErrClosed", o.otherErr)
	}
}

func TestHandlerContextEndsWhenPeerVanishes(t *testing.T) {
	t.Parallel()
	seen := make(chan result, 1)
	_, addr := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
		<-ctx.Done()
		code, _ := CloseStatus(context.Cause(ctx))
		seen <- result{code: int(code)}
		return nil
	})
	rc := rawDial(t, addr)
	time.Sleep(50 * time.Millisecond)
	rc.Close() // no close frame
	if r := waitResult(t, seen, 5*time.Second); r.code != int(protocol.CloseAbnormal) {
		t.Errorf("handler's context ended with %d, want 1006", r.code)
	}
}

func TestSendInvalidType(t *testing.T) {
	t.Parallel()
	errc := make(chan error, 2)
	url, _ := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
		errc <- c.Send(ctx, 9, nil)
		_, err := c.Writer(ctx, 0)
		errc <- err
		return nil
	})
	_ = dial(t, url, nil)
	for range 2 {
		if err := <-errc; err == nil {
			t.Error("invalid message type accepted")
		}
	}
}

// TestWriteAfterPeerFailsConnection checks what a message under way
// reports when the peer fails the connection meanwhile, as wsmap itself
// does (RFC 6455 section 7.1.7): its close frame, then TCP closed without
// waiting for the answer, here with a reset. The answer to the close frame
// meets the reset, and so does every write after it; the message's writer
// reports the peer's close, as a write refused after the close frame does,
// and not the reset or a broken pipe. Each side is tested with each of its
// writers of frames: gorilla's, and the frame writer of a server without
// compression.
func TestWriteAfterPeerFailsConnection(t *testing.T) {
	t.Parallel()
	const deflate = "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	closePayload := binary.BigEndian.AppendUint16(nil, uint16(protocol.CloseMessageTooBig))
	closePayload = append(closePayload, "message too big"...)
	// server opens a server connection and the raw client that is its
	// peer, and returns the connection, the peer's socket and its close
	// frame.
	server := func(t *testing.T, opts Options, headers ...string) (*Conn, net.Conn, []byte) {
		conns := make(chan *Conn, 1)
		_, addr := serveFunc(t, opts, func(ctx context.Context, c *Conn) error {
			conns <- c
			<-c.Done()
			return nil
		})
		rc := rawDial(t, addr, headers...)
		select {
		case c := <-conns:
			return c, rc.Conn, wstest.Encode(wstest.Frame{Fin: true, Opcode: wstest.OpClose, Payload: closePayload})
		case <-time.After(5 * time.Second):
			t.Fatal("no server connection")
			return nil, nil, nil
		}
	}
	// client dials a raw server, which answers the handshake with
	// headers, and returns the connection, the server's socket and its
	// close frame.
	client := func(t *testing.T, opts Options, headers ...string) (*Conn, net.Conn, []byte) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		peer := make(chan net.Conn, 1)
		go func() {
			defer close(peer)
			nc, err := l.Accept()
			if err != nil {
				return
			}
			_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
			req, err := http.ReadRequest(bufio.NewReader(nc))
			if err == nil {
				_, err = nc.Write(response(acceptKey(req.Header.Get("Sec-WebSocket-Key")), headers...))
			}
			if err != nil {
				nc.Close()
				return
			}
			_ = nc.SetDeadline(time.Time{})
			peer <- nc
		}()
		c := dial(t, "ws://"+l.Addr().String()+"/", &DialOptions{Options: &opts})
		nc, ok := <-peer
		if !ok {
			t.Fatal("the raw server lost the connection")
		}
		t.Cleanup(func() { nc.Close() })
		return c, nc, serverFrame(wstest.Frame{Fin: true, Opcode: wstest.OpClose, Payload: closePayload}, uint64(len(closePayload)))
	}
	for _, tt := range []struct {
		name string
		open func(t *testing.T) (*Conn, net.Conn, []byte)
	}{
		{"client", func(t *testing.T) (*Conn, net.Conn, []byte) { return client(t, Options{}) }},
		{"client with compression", func(t *testing.T) (*Conn, net.Conn, []byte) {
			return client(t, Options{Compression: true}, deflate)
		}},
		{"server", func(t *testing.T) (*Conn, net.Conn, []byte) { return server(t, Options{}) }},
		{"server with compression", func(t *testing.T) (*Conn, net.Conn, []byte) {
			return server(t, Options{Compression: true}, deflate)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, peer, closeFrame := tt.open(t)
			ctx := testCtx(t, 10*time.Second)
			w, err := c.Writer(ctx, protocol.Binary)
			if err != nil {
				t.Fatal(err)
			}
			// The peer fails the connection. On loopback the reset has
			// arrived once Close returns, before the close frame is read.
			if _, err := peer.Write(closeFrame); err != nil {
				t.Fatal(err)
			}
			if err := peer.(*net.TCPConn).SetLinger(0); err != nil {
				t.Fatal(err)
			}
			peer.Close()
			// Reading the close frame answers it, in vain.
			if _, _, err := c.Recv(ctx); !isTooBig(err) {
				t.Fatalf("Recv: %v, want the peer's close", err)
			}
			_, err = w.Write(make([]byte, 64<<10))
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if !isTooBig(err) || !errors.Is(err, ErrClosed) {
				t.Errorf("message written as the peer failed the connection: %v, want the peer's close", err)
			}
			// The goroutine that read the close ends the connection, a
			// moment after the receiver has it.
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the connection did not end")
			}
			if err := c.Err(); !isTooBig(err) {
				t.Errorf("Err: %v, want the peer's close", err)
			}
		})
	}
}

// isTooBig reports whether err carries the close 1009 "message too big".
func isTooBig(err error) bool {
	code, reason := CloseStatus(err)
	return code == protocol.CloseMessageTooBig && reason == "message too big"
}

type valueKey struct{}

// TestSendUnderValuesOfItsContext checks that a Send under a context
// that only adds values to the connection's (as middleware adds a span)
// costs what one under the connection's own does: neither is watched.
func TestSendUnderValuesOfItsContext(t *testing.T) {
	allocs := make(chan [2]float64, 1)
	_, addr := serveFunc(t, Options{PingInterval: -1}, func(ctx context.Context, c *Conn) error {
		msg := []byte("hello")
		send := func(ctx context.Context) func() {
			return func() {
				if err := c.Send(ctx, protocol.Text, msg); err != nil {
					panic(err)
				}
			}
		}
		own := testing.AllocsPerRun(200, send(c.Context()))
		valued := testing.AllocsPerRun(200, send(context.WithValue(c.Context(), valueKey{}, 1)))
		allocs <- [2]float64{own, valued}
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
	if n := <-allocs; n[1] > n[0] {
		t.Errorf("Send allocates %v times under a value of the connection's context, %v under its own", n[1], n[0])
	}
}
