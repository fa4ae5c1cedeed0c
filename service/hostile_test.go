package service

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
)

// hostileServer accepts one connection on a loopback port, reads the
// upgrade request and answers it with respond, the server's whole output
// (the response and any frames), given the request's accept key. It
// reports what the client sent afterwards: the close frame's code, if any,
// and whether the client then closed TCP.
type hostileServer struct {
	addr   string
	closed chan int // the client's close code, 0 if none; sent when the client closes TCP
}

func startHostile(t *testing.T, respond func(accept string, req *http.Request) []byte) *hostileServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &hostileServer{addr: l.Addr().String(), closed: make(chan int, 1)}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(nc)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		out := respond(acceptKey(req.Header.Get("Sec-WebSocket-Key")), req)
		if out == nil {
			<-time.After(5 * time.Second) // never answer
			return
		}
		if _, err := nc.Write(out); err != nil {
			return
		}
		// Read what the client sends: its frames are masked.
		code := 0
		rc := wstest.NewConn(nc, br)
		for {
			f, err := readClientFrame(rc)
			if err != nil {
				break
			}
			if f.Opcode == wstest.OpClose {
				code = f.CloseCode()
			}
		}
		s.closed <- code
	}()
	return s
}

// acceptKey is the Sec-WebSocket-Accept answering key.
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// readClientFrame reads one masked frame from a client.
func readClientFrame(c *wstest.Conn) (wstest.Frame, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return wstest.Frame{}, err
	}
	n := int(hdr[1] & 0x7f)
	if n >= 126 || hdr[1]&0x80 == 0 {
		return wstest.Frame{}, errors.New("unexpected client frame")
	}
	var key [4]byte
	if _, err := io.ReadFull(c, key[:]); err != nil {
		return wstest.Frame{}, err
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c, p); err != nil {
		return wstest.Frame{}, err
	}
	for i := range p {
		p[i] ^= key[i%4]
	}
	return wstest.Frame{Fin: hdr[0]&0x80 != 0, Opcode: hdr[0] & 0xf, Payload: p}, nil
}

func response(accept string, extra ...string) []byte {
	s := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n"
	for _, h := range extra {
		s += h + "\r\n"
	}
	return []byte(s + "\r\n")
}

// serverFrame encodes a frame as a server sends it, unmasked, declaring
// length n.
func serverFrame(f wstest.Frame, n uint64) []byte { return wstest.EncodeLen(f, n, false) }

// TestDialHostileServer checks the client against servers that break the
// protocol: each is refused with a clear error or close code, in bounded
// time, and memory returns to where it was.
func TestDialHostileServer(t *testing.T) {
	text := func(s string) wstest.Frame { return wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte(s)} }
	tests := []struct {
		name      string
		opts      DialOptions
		respond   func(accept string, req *http.Request) []byte
		dialErr   error              // Dial's error, matched with errors.Is
		timeout   bool               // or Dial's error is a timeout
		code      protocol.CloseCode // else the close Recv reports
		reason    string             // and its reason, in part
		firstRecv string             // a message received before it, if any
	}{
		{name: "a frame in the response's segment is read", respond: func(a string, _ *http.Request) []byte {
			return append(append(response(a), serverFrame(text("hi"), 2)...), serverFrame(text("x\xff"), 2)...)
		}, firstRecv: "hi", code: 1007, reason: "invalid UTF-8"},
		{name: "masked server frame", respond: func(a string, _ *http.Request) []byte {
			return append(response(a), wstest.Encode(text("hi"))...)
		}, code: 1002, reason: "masked frame from a server"},
		{name: "reserved bits", respond: func(a string, _ *http.Request) []byte {
			return append(response(a), serverFrame(wstest.Frame{Fin: true, RSV: 2, Opcode: wstest.OpText}, 0)...)
		}, code: 1002, reason: "RSV2 or RSV3"},
		{name: "RSV1 without compression", respond: func(a string, _ *http.Request) []byte {
			return append(response(a), serverFrame(wstest.Frame{Fin: true, RSV: 4, Opcode: wstest.OpText}, 0)...)
		}, code: 1002, reason: "RSV1"},
		{name: "2^63 length", respond: func(a string, _ *http.Request) []byte {
			return append(response(a), serverFrame(wstest.Frame{Fin: true, Opcode: wstest.OpBinary}, 1<<63)...)
		}, code: 1002, reason: "most significant bit"},
		{name: "over-limit declared length", opts: DialOptions{Options: &Options{ReadLimit: 1024}}, respond: func(a string, _ *http.Request) []byte {
			return append(response(a), serverFrame(wstest.Frame{Fin: true, Opcode: wstest.OpBinary}, 1<<40)...)
		}, code: 1009, reason: "message too big: 1099511627776 bytes, limit 1024"},
		{name: "oversized ping", respond: func(a string, _ *http.Request) []byte {
			return append(response(a), serverFrame(wstest.Frame{Fin: true, Opcode: wstest.OpPing, Payload: make([]byte, 200)}, 200)...)
		}, code: 1002, reason: "control frame longer than 125 bytes"},
		{name: "invalid UTF-8", respond: func(a string, _ *http.Request) []byte {
			return append(response(a), serverFrame(text("ok\xc3\x28"), 4)...)
		}, code: 1007, reason: "invalid UTF-8"},
		{name: "bad Sec-WebSocket-Accept", respond: func(string, *http.Request) []byte {
			return response("dGhlIHNhbXBsZSBub25jZQ==")
		}, dialErr: ErrBadHandshake},
		{name: "compression not offered", respond: func(a string, _ *http.Request) []byte {
			return response(a, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover")
		}, dialErr: ErrExtensionNotOffered},
		{name: "an unknown extension", opts: DialOptions{Options: &Options{Compression: true}}, respond: func(a string, _ *http.Request) []byte {
			return response(a, "Sec-WebSocket-Extensions: x-webkit-deflate-frame")
		}, dialErr: ErrExtensionNotOffered},
		{name: "a protocol not offered", opts: DialOptions{Subprotocols: []string{"good"}}, respond: func(a string, _ *http.Request) []byte {
			return response(a, "Sec-WebSocket-Protocol: evil")
		}, dialErr: ErrProtocolNotOffered},
		{name: "never answers", opts: DialOptions{Options: &Options{HandshakeTimeout: 300 * time.Millisecond}}, respond: func(string, *http.Request) []byte {
			return nil
		}, timeout: true},
		{name: "answers in part", opts: DialOptions{Options: &Options{HandshakeTimeout: 300 * time.Millisecond}}, respond: func(a string, _ *http.Request) []byte {
			return []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n")
		}, timeout: true},
	}
	run := func(t *testing.T) {
		for _, tt := range tests {
			srv := startHostile(t, tt.respond)
			start := time.Now()
			c, _, err := Dial(testCtx(t, 5*time.Second), "ws://"+srv.addr+"/", &tt.opts)
			if tt.dialErr != nil || tt.timeout {
				var ne net.Error
				switch {
				case tt.timeout && !(errors.As(err, &ne) && ne.Timeout()):
					t.Errorf("%s: Dial: %v, want a timeout", tt.name, err)
				case tt.dialErr != nil && !errors.Is(err, tt.dialErr):
					t.Errorf("%s: Dial: %v, want %v", tt.name, err, tt.dialErr)
				}
				if c != nil {
					t.Errorf("%s: Dial returned a connection", tt.name)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("%s: Dial took %v", tt.name, d)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: Dial: %v", tt.name, err)
				continue
			}
			if tt.firstRecv != "" {
				if _, data, err := c.Recv(testCtx(t, 2*time.Second)); err != nil || string(data) != tt.firstRecv {
					t.Errorf("%s: first Recv: %q, %v; want %q", tt.name, data, err, tt.firstRecv)
				}
			}
			_, _, err = c.Recv(testCtx(t, 2*time.Second))
			code, reason := CloseStatus(err)
			if code != tt.code || !strings.Contains(reason, tt.reason) {
				t.Errorf("%s: Recv: %v, want %d with %q", tt.name, err, tt.code, tt.reason)
			}
			select {
			case got := <-srv.closed:
				if got != int(tt.code) {
					t.Errorf("%s: the client sent close code %d, want %d", tt.name, got, tt.code)
				}
			case <-time.After(2 * time.Second):
				t.Errorf("%s: the client did not close the connection", tt.name)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("%s: took %v", tt.name, d)
			}
		}
	}
	run(t) // warm up: pools, the first connections' buffers
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	for range 3 {
		run(t)
	}
	if after := heap(); after > before+2<<20 {
		t.Errorf("heap grew from %d to %d bytes over the hostile servers", before, after)
	}
}
