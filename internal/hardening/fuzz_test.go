package hardening

import (
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/service"
)

// FuzzServerStream feeds arbitrary bytes to a live server after a valid
// handshake, with permessage-deflate negotiated or not, then half-closes. The server must end the connection within
// a bounded time (no hang), never crash (a panic in its goroutines would
// end the test process), return every handler, and keep its memory
// bounded.
func FuzzServerStream(f *testing.F) {
	for _, seed := range [][]byte{
		wstest.EncodeAll(wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("hello")}),
		wstest.EncodeAll(wstest.Frame{Fin: true, Opcode: wstest.OpPing, Payload: []byte("p")}, wstest.Frame{Fin: true, Opcode: wstest.OpClose, Payload: []byte{3, 0xe8}}),
		wstest.EncodeAll(wstest.Frame{Opcode: wstest.OpText, Payload: []byte("he")}, wstest.Frame{Fin: true, Payload: []byte("llo")}),
		wstest.EncodeAll(wstest.Frame{Fin: true, RSV: 4, Opcode: wstest.OpBinary, Payload: deflated([]byte("compressed"))}),
		wstest.EncodeLen(wstest.Frame{Fin: true, Opcode: wstest.OpBinary}, 1<<62, true),
		unmasked(wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("x")}),
		[]byte("GET / HTTP/1.1\r\n\r\n"),
		{0xff, 0xff, 0xff, 0xff},
	} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	tg := startTarget(f, service.Options{ReadLimit: 4 << 10, Compression: true}, 2*time.Second)
	f.Fuzz(func(t *testing.T, data []byte, compress bool) {
		// With compression gorilla reads the frames; without, the frame
		// guard does.
		var headers []string
		if compress {
			headers = append(headers, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover")
		}
		c, err := wstest.Dial(tg.addr, "/echo", headers...)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		read := make(chan error, 1)
		go func() {
			// Everything the server sends is read, so that its writes
			// never block on a full socket.
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := io.Copy(io.Discard, c.Conn)
			read <- err
		}()
		_, _ = c.Write(data) // the server may close before reading it all
		_ = c.Conn.(*net.TCPConn).CloseWrite()
		if err := <-read; err != nil && isTimeout(err) {
			t.Fatalf("the server did not end the connection within 10s of the input's end")
		}
		if !wstest.Settle(10*time.Second, func() bool { return tg.handlers.Load() == 0 }) {
			t.Fatalf("%d handlers still running", tg.handlers.Load())
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > 256<<20 {
			t.Fatalf("live heap %d MiB after one connection", ms.HeapAlloc>>20)
		}
	})
}
