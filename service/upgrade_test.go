package service

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	chimw "github.com/go-chi/chi/v5/middleware"
	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"

	"github.com/wsmap/wsmap/service/internal/wire"
)

// rfcKey and rfcAccept are the example of RFC 6455 section 1.3.
const (
	rfcKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	rfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// upgradeConnRequest is an opening handshake as a client sends it.
const upgradeConnRequest = "GET /ws HTTP/1.1\r\n" +
	"Host: example.com\r\n" +
	"Upgrade: websocket\r\n" +
	"Connection: Upgrade\r\n" +
	"Sec-WebSocket-Key: " + rfcKey + "\r\n" +
	"Sec-WebSocket-Version: 13\r\n" +
	"\r\n"

// upgraded is what upgradeConn returned in a server's handler.
type upgraded struct {
	g   *wire.Guard
	err error
}

// upgradeConnServer starts a server whose handler, behind mw (nil for
// none), calls upgradeConn with the given arguments, and returns its
// address and where the handler sends upgradeConn's results.
func upgradeConnServer(t *testing.T, mw func(http.Handler) http.Handler,
	subprotocol string, header http.Header, timeout time.Duration) (string, <-chan upgraded) {
	t.Helper()
	ch := make(chan upgraded, 1)
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g, err := upgradeConn(w, r, subprotocol, header, timeout)
		ch <- upgraded{g, err}
	})
	if mw != nil {
		h = mw(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), ch
}

// waitUpgraded waits for the handler's result; a guard is closed at
// cleanup.
func waitUpgraded(t *testing.T, ch <-chan upgraded) upgraded {
	t.Helper()
	select {
	case u := <-ch:
		if u.g != nil {
			t.Cleanup(func() { u.g.Close() })
		}
		return u
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not return")
		return upgraded{}
	}
}

// dialUpgradeConn connects to addr and sends b in one write; the
// connection is closed at cleanup and reads time out after 10s.
func dialUpgradeConn(t *testing.T, addr string, b []byte) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if err := nc.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	return nc
}

// readHead reads a response's header, up to and including its empty line.
func readHead(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		head.WriteString(line)
		if err != nil {
			t.Fatalf("reading the response: %v, after %q", err, head.String())
		}
		if line == "\r\n" {
			return head.String()
		}
	}
}

func TestUpgradeConnResponse(t *testing.T) {
	t.Parallel()
	const start = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + rfcAccept + "\r\n"
	many := http.Header{}
	manyWant := ""
	for i := range 12 {
		k := "X-Field-" + strconv.Itoa(i+10)
		many[k] = []string{strconv.Itoa(i)}
		manyWant += k + ": " + strconv.Itoa(i) + "\r\n"
	}
	tests := []struct {
		name        string
		subprotocol string
		header      http.Header
		want        string
	}{
		{"plain", "", nil, start + "\r\n"},
		{"empty header", "", http.Header{}, start + "\r\n"},
		{"subprotocol", "chat.v1", nil, start + "Sec-WebSocket-Protocol: chat.v1\r\n\r\n"},
		{"extra headers", "chat.v1", http.Header{
			"X-Request-Id": {"r1"},
			"Set-Cookie":   {"a=1", "b=2"},
		}, start + "Sec-WebSocket-Protocol: chat.v1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Request-Id: r1\r\n\r\n"},
		{"CR and LF sanitised", "", http.Header{
			"Set-Cookie": {"a=1\r\nX-Injected: yes", "b=2\n\r\nHTTP/1.1 200 OK"},
			"X-Ctl":      {"tab\tkept, nul\x00 del\x7f gone", "\r\n"},
		}, start + "Set-Cookie: a=1  X-Injected: yes\r\nSet-Cookie: b=2   HTTP/1.1 200 OK\r\n" +
			"X-Ctl: tab\tkept, nul  del  gone\r\nX-Ctl:   \r\n\r\n"},
		{"own headers left out", "chat.v1", http.Header{
			"Sec-Websocket-Protocol":   {"other"},
			"Sec-Websocket-Accept":     {"forged"},
			"Sec-Websocket-Extensions": {"permessage-deflate"},
			"Upgrade":                  {"h2c"},
			"connection":               {"close"},
			"Content-Length":           {"0"},
			"Content-Type":             {"text/plain"},
			"Transfer-Encoding":        {"chunked"},
			"Bad Name":                 {"x"},
			"Bad\r\nName":              {"x"},
			"":                         {"x"},
			"X-Kept":                   {"yes"},
		}, start + "Sec-WebSocket-Protocol: chat.v1\r\nX-Kept: yes\r\n\r\n"},
		{"many fields", "", many, start + manyWant + "\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr, ch := upgradeConnServer(t, nil, tt.subprotocol, tt.header, time.Second)
			nc := dialUpgradeConn(t, addr, []byte(upgradeConnRequest))
			u := waitUpgraded(t, ch)
			if u.err != nil {
				t.Fatalf("upgradeConn: %v", u.err)
			}
			// The whole response: the server closes, and the client
			// reads up to the end.
			u.g.Close()
			got, err := io.ReadAll(nc)
			if err != nil {
				t.Fatalf("reading the response: %v", err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUpgradeConnAccept(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ key, want string }{
		{rfcKey, rfcAccept}, // RFC 6455 section 1.3
		{"x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk="}, // RFC 6455 section 1.2
	} {
		got := string(appendAccept(nil, tt.key))
		if got != tt.want {
			t.Errorf("accept for %q: %q, want %q", tt.key, got, tt.want)
		}
	}
}

// maskedFrame is a client's frame: a masked text frame holding payload.
func maskedFrame(payload string) []byte {
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b := []byte{0x81, 0x80 | byte(len(payload))}
	b = append(b, mask[:]...)
	for i := range len(payload) {
		b = append(b, payload[i]^mask[i%4])
	}
	return b
}

// wrapWriter is a middleware that wraps the ResponseWriter with wrap.
func wrapWriter(wrap func(http.ResponseWriter) http.ResponseWriter) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(wrap(w), r)
		})
	}
}

// unwrapWriter is a middleware's wrapper that can unwrap.
type unwrapWriter struct{ http.ResponseWriter }

func (w unwrapWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// opaqueWriter is a wrapper that hides the ResponseWriter it wraps.
type opaqueWriter struct{ w http.ResponseWriter }

func (w opaqueWriter) Header() http.Header         { return w.w.Header() }
func (w opaqueWriter) Write(p []byte) (int, error) { return w.w.Write(p) }
func (w opaqueWriter) WriteHeader(status int)      { w.w.WriteHeader(status) }

func TestUpgradeConnHijack(t *testing.T) {
	t.Parallel()
	frame := maskedFrame("hello, behind the handshake")
	// The client accepts gzip, for chi's Compress to wrap the writer.
	req := strings.Replace(upgradeConnRequest, "\r\n\r\n", "\r\nAccept-Encoding: gzip\r\n\r\n", 1)
	tests := []struct {
		name string
		mw   func(http.Handler) http.Handler
	}{
		{"direct", nil},
		{"wrapper with Unwrap", wrapWriter(func(w http.ResponseWriter) http.ResponseWriter {
			return unwrapWriter{w}
		})},
		{"two wrappers", wrapWriter(func(w http.ResponseWriter) http.ResponseWriter {
			return unwrapWriter{unwrapWriter{w}}
		})},
		{"chi WrapResponseWriter", wrapWriter(func(w http.ResponseWriter) http.ResponseWriter {
			return unwrapWriter{chimw.NewWrapResponseWriter(w, 1)}
		})},
		{"chi middleware", func(h http.Handler) http.Handler {
			logger := chimw.RequestLogger(&chimw.DefaultLogFormatter{Logger: log.New(io.Discard, "", 0), NoColor: true})
			return chimw.RequestID(logger(chimw.Recoverer(chimw.Compress(5)(h))))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr, ch := upgradeConnServer(t, tt.mw, "", nil, time.Second)
			// The frame follows the handshake in the same write, so
			// that the server reads it with the request.
			nc := dialUpgradeConn(t, addr, append([]byte(req), frame...))
			u := waitUpgraded(t, ch)
			if u.err != nil {
				t.Fatalf("upgradeConn: %v", u.err)
			}
			if head := readHead(t, bufio.NewReader(nc)); !strings.HasPrefix(head, "HTTP/1.1 101 ") {
				t.Fatalf("response %q", head)
			}
			if err := u.g.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(frame))
			if _, err := io.ReadFull(u.g, got); err != nil {
				t.Fatalf("reading the frame through the guard: %v", err)
			}
			if !bytes.Equal(got, frame) {
				t.Errorf("frame %x, want %x", got, frame)
			}
		})
	}
}

func TestUpgradeConnNotHijackable(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, u upgraded) {
		t.Helper()
		if u.g != nil {
			t.Error("a guard without a connection")
		}
		if !errors.Is(u.err, http.ErrNotSupported) || u.err.Error() != "hijack: feature not supported" {
			t.Errorf("error %v, want hijack: feature not supported", u.err)
		}
	}
	const body = "hijack: feature not supported\n"

	t.Run("recorder", func(t *testing.T) {
		t.Parallel()
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(upgradeConnRequest)))
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		g, err := upgradeConn(w, r, "chat.v1", http.Header{"X-Request-Id": {"r1"}}, time.Second)
		check(t, upgraded{g, err})
		want := http.Header{
			"Content-Type":           {"text/plain; charset=utf-8"},
			"X-Content-Type-Options": {"nosniff"},
		}
		if w.Code != http.StatusInternalServerError || w.Body.String() != body {
			t.Errorf("answer %d %q, want 500 %q", w.Code, w.Body.String(), body)
		}
		if diff := cmp.Diff(want, w.Header()); diff != "" {
			t.Errorf("header (-want +got):\n%s", diff)
		}
	})

	t.Run("wrapper without Unwrap", func(t *testing.T) {
		t.Parallel()
		addr, ch := upgradeConnServer(t, wrapWriter(func(w http.ResponseWriter) http.ResponseWriter {
			return opaqueWriter{w}
		}), "", nil, time.Second)
		nc := dialUpgradeConn(t, addr, []byte(upgradeConnRequest))
		check(t, waitUpgraded(t, ch))
		res, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusInternalServerError || string(got) != body {
			t.Errorf("answer %d %q, want 500 %q", res.StatusCode, got, body)
		}
	})
}

// smallBuffers shrinks the send buffer of the connections it accepts.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return nc, err
}

func TestUpgradeConnWriteFails(t *testing.T) {
	t.Parallel()
	// A response far larger than the sockets' buffers (the server's send
	// buffer shrunk, the client's receive buffer fixed well below the
	// response, so that it cannot grow), to a client that does not read,
	// cannot be written before the deadline.
	big := strings.Repeat("a", 4<<20)
	ch := make(chan upgraded, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g, err := upgradeConn(w, r, "", http.Header{"X-Big": {big}}, 100*time.Millisecond)
		ch <- upgraded{g, err}
	}))
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)

	nc, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if err := nc.(*net.TCPConn).SetReadBuffer(256 << 10); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write([]byte(upgradeConnRequest)); err != nil {
		t.Fatal(err)
	}
	u := waitUpgraded(t, ch)
	if u.g != nil || !errors.Is(u.err, os.ErrDeadlineExceeded) {
		t.Fatalf("upgradeConn: %v, %v; want a timeout", u.g, u.err)
	}
	// The server closed the connection: reading it ends with part of the
	// response.
	if err := nc.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, nc)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reading after the failed write: %v", err)
	}
	if n >= int64(len(big)) {
		t.Errorf("read %d bytes, the whole response", n)
	}
}

func TestUpgradeConnClearsDeadlines(t *testing.T) {
	t.Parallel()
	ch := make(chan upgraded, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g, err := upgradeConn(w, r, "", nil, 50*time.Millisecond)
		ch <- upgraded{g, err}
	}))
	srv.Config.ReadTimeout = 50 * time.Millisecond
	srv.Config.WriteTimeout = 50 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)

	nc := dialUpgradeConn(t, srv.Listener.Addr().String(), []byte(upgradeConnRequest))
	u := waitUpgraded(t, ch)
	if u.err != nil {
		t.Fatalf("upgradeConn: %v", u.err)
	}
	br := bufio.NewReader(nc)
	readHead(t, br)
	// Past the server's timeouts and the handshake's, the connection
	// still reads and writes.
	time.Sleep(200 * time.Millisecond)
	frame := maskedFrame("late")
	if _, err := nc.Write(frame); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(frame))
	if _, err := io.ReadFull(u.g, got); err != nil {
		t.Fatalf("reading through the guard: %v", err)
	}
	if _, err := u.g.Write([]byte{0x8a, 0}); err != nil {
		t.Fatalf("writing through the guard: %v", err)
	}
	pong := make([]byte, 2)
	if _, err := io.ReadFull(br, pong); err != nil || !bytes.Equal(pong, []byte{0x8a, 0}) {
		t.Fatalf("client read %x, %v", pong, err)
	}
}

// FuzzAppendResponse checks that a 101 response parses as one, carrying
// the upgrade's fields and the extra ones, whatever the subprotocol and
// the extra fields hold, and that its length is the one reserved for it.
func FuzzAppendResponse(f *testing.F) {
	f.Add(rfcKey, "", "Set-Cookie", "a=1", "b=2")
	f.Add(rfcKey, "chat.v1", "X-Request-Id", "r1\r\nX-Injected: 1", "\n\nHTTP/1.1 200 OK\r\n\r\n")
	f.Add("", "a\rb", "Sec-WebSocket-Protocol", "x", "")
	f.Add(" key ", "\x00", "Bad Name", "\x7f", "\t")
	f.Fuzz(func(t *testing.T, key, subprotocol, name, v1, v2 string) {
		header := http.Header{name: {v1, v2}}
		fields, fieldsLen := responseFields(nil, header)
		p := appendResponse(nil, key, subprotocol, header, fields)
		if want := responseLen(subprotocol, fieldsLen); len(p) != want {
			t.Errorf("%d bytes, %d reserved", len(p), want)
		}
		br := bufio.NewReader(bytes.NewReader(p))
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		res.Body.Close()
		if rest, _ := io.ReadAll(br); len(rest) > 0 {
			t.Errorf("%q: %q after the response", p, rest)
		}
		if res.StatusCode != http.StatusSwitchingProtocols {
			t.Errorf("%q: status %d", p, res.StatusCode)
		}
		accept := string(appendAccept(nil, key))
		for k, want := range map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Sec-Websocket-Accept": accept} {
			if got := res.Header[k]; len(got) != 1 || got[0] != want {
				t.Errorf("%q: %s %q, want %q", p, k, got, want)
			}
		}
		want := 3
		if subprotocol != "" {
			want++
			if got := res.Header["Sec-Websocket-Protocol"]; len(got) != 1 {
				t.Errorf("%q: Sec-WebSocket-Protocol %q", p, got)
			}
		}
		if extraField(name) {
			want += 2
		}
		got := 0
		for _, vs := range res.Header {
			got += len(vs)
		}
		if got != want {
			t.Errorf("%q: %d field lines, want %d", p, got, want)
		}
	})
}

// benchConn is a loopback connection whose peer discards what it reads.
func benchConn(b *testing.B) net.Conn {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	server, err := l.Accept()
	if err != nil {
		client.Close()
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = io.Copy(io.Discard, client) })
	b.Cleanup(func() {
		server.Close()
		wg.Wait()
		client.Close()
	})
	return server
}

// discardConn is a loopback connection whose writes are discarded, so
// that a benchmark measures the upgrade's work rather than the system's:
// both upgrades write their response in one write. Its deadlines and
// its descriptor are the connection's.
type discardConn struct{ *net.TCPConn }

func (discardConn) Write(p []byte) (int, error) { return len(p), nil }

// benchWriter is a ResponseWriter that hands out the same connection on
// every Hijack, with a fresh reader and writer as net/http's.
type benchWriter struct {
	h   http.Header
	nc  net.Conn
	brw *bufio.ReadWriter
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *benchWriter) WriteHeader(int)             {}

func (w *benchWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.brw.Reader.Reset(w.nc)
	w.brw.Writer.Reset(w.nc)
	return w.nc, w.brw, nil
}

// benchUpgrader is gorilla's Upgrader as Accept sets it up for a
// connection without compression.
func benchUpgrader() *websocket.Upgrader {
	return &websocket.Upgrader{
		HandshakeTimeout: DefaultHandshakeTimeout,
		ReadBufferSize:   wire.ReadBufferSize,
		CheckOrigin:      func(*http.Request) bool { return true },
		WriteBufferPool:  new(sync.Pool),
	}
}

// BenchmarkUpgradeConn compares upgradeConn with gorilla's Upgrader, as
// Accept sets it up, on the same request and connection: the upgrade
// alone, from the hijack to the written response, the write itself left
// out (see discardConn).
func BenchmarkUpgradeConn(b *testing.B) {
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(
		strings.Replace(upgradeConnRequest, "\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat.v1, chat.v2\r\n\r\n", 1))))
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name        string
		subprotocol string
		header      http.Header
	}{
		{"plain", "", nil},
		{"subprotocol", "chat.v1", nil},
		{"headers", "chat.v1", http.Header{"Set-Cookie": {"session=abc; Path=/; HttpOnly"}, "X-Request-Id": {"host/abc-000001"}}},
	}
	for _, c := range cases {
		b.Run(c.name+"/wsmap", func(b *testing.B) {
			w := &benchWriter{h: http.Header{}, nc: discardConn{benchConn(b).(*net.TCPConn)},
				brw: bufio.NewReadWriter(bufio.NewReaderSize(nil, 4096), bufio.NewWriterSize(nil, 4096))}
			b.ReportAllocs()
			for b.Loop() {
				g, err := upgradeConn(w, r, c.subprotocol, c.header, DefaultHandshakeTimeout)
				if err != nil {
					b.Fatal(err)
				}
				g.Configure(DefaultReadLimit, false)
			}
		})
		b.Run(c.name+"/gorilla", func(b *testing.B) {
			w := &benchWriter{h: http.Header{}, nc: discardConn{benchConn(b).(*net.TCPConn)},
				brw: bufio.NewReadWriter(bufio.NewReaderSize(nil, 4096), bufio.NewWriterSize(nil, 4096))}
			up := benchUpgrader()
			header := c.header
			if header == nil && c.subprotocol != "" {
				up.Subprotocols = []string{c.subprotocol}
			} else if header != nil {
				header = header.Clone()
				header.Set("Sec-WebSocket-Protocol", c.subprotocol)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := up.Upgrade(&guardWriter{ResponseWriter: w, limit: DefaultReadLimit}, r, header); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUpgradeConnHandshake measures whole handshakes over new TCP
// connections to a net/http server that upgrades with upgradeConn or with
// gorilla's Upgrader (behind a frame guard, as Accept does), client and
// server together.
func BenchmarkUpgradeConnHandshake(b *testing.B) {
	for _, name := range []string{"wsmap", "gorilla"} {
		b.Run(name, func(b *testing.B) {
			up := benchUpgrader()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if name == "wsmap" {
					if g, err := upgradeConn(w, r, "", nil, DefaultHandshakeTimeout); err == nil {
						g.Close()
					}
					return
				}
				if c, err := up.Upgrade(&guardWriter{ResponseWriter: w, limit: DefaultReadLimit}, r, nil); err == nil {
					c.NetConn().Close()
				}
			}))
			defer srv.Close()
			addr := srv.Listener.Addr().String()
			req := []byte(upgradeConnRequest)
			buf := make([]byte, 512)
			b.ReportAllocs()
			for b.Loop() {
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := nc.Write(req); err != nil {
					b.Fatal(err)
				}
				// The server closes after the response: read to the end.
				n := 0
				for err == nil {
					var k int
					k, err = nc.Read(buf[n:])
					n += k
				}
				nc.Close()
				if !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 101 ")) {
					b.Fatalf("response %q", buf[:n])
				}
			}
		})
	}
}
