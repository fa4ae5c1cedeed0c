package service

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"

	"github.com/wsmap/wsmap/protocol"
)

// frameGuard reads a client's frames on a server connection before
// gorilla does and fails the connection, with a close code and a reason,
// on what gorilla lets through or answers without a reason:
//
//   - RSV1 on a control or continuation frame (RFC 7692 section 6.1),
//     which gorilla accepts when compression is on;
//   - a 64-bit length with its most significant bit set (RFC 6455
//     section 5.2), a protocol error (1002);
//   - a message longer on the wire than the read limit, refused with
//     1009 and a reason as soon as a frame header announces it, before
//     its payload is read.
//
// It only follows frame boundaries; gorilla still parses and checks
// every frame. The bytes of an offending frame are held back from gorilla,
// which sees a read error instead.
type frameGuard struct {
	net.Conn
	pending []byte // read by the HTTP server beyond the request
	limit   int64  // wire bytes per message; 0 for none

	hdr     [14]byte
	hn      int    // header bytes seen of the current frame
	payload uint64 // payload bytes left in the current frame
	msgLen  uint64 // wire bytes of the current message so far
	err     *frameError

	// Reading the socket (see readConn): data is the unread part of
	// chunk, a pooled buffer held only while it has unread bytes.
	raw   rawReader // see waitChunk
	chunk *[chunkSize]byte
	data  []byte
}

// frameError is a violation the guard found.
type frameError struct {
	code   protocol.CloseCode
	reason string
}

func (e *frameError) Error() string { return "service: " + e.reason }

func (g *frameGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	var n int
	var err error
	if len(g.pending) > 0 {
		n = copy(p, g.pending)
		g.pending = g.pending[n:]
	} else {
		n, err = g.readConn(p)
	}
	pass, ferr := g.scan(p[:n])
	if ferr != nil {
		g.err = ferr
		if pass == 0 {
			return 0, ferr
		}
		return pass, nil
	}
	return n, err
}

// scan follows the frames in b. It returns how many bytes of b gorilla
// may have: all of them, or, on a violation, those before the offending
// frame's header.
func (g *frameGuard) scan(b []byte) (int, *frameError) {
	i := 0
	for i < len(b) {
		if g.hn == 0 && g.payload > 0 {
			k := min(uint64(len(b)-i), g.payload)
			i += int(k)
			g.payload -= k
			continue
		}
		start := i - g.hn // where this header began; negative if in an earlier read
		g.hdr[g.hn] = b[i]
		g.hn++
		i++
		if g.hn < 2 || g.hn < headerLen(g.hdr[1]) {
			continue
		}
		if err := g.frame(); err != nil {
			return max(start, 0), err
		}
	}
	return len(b), nil
}

// headerLen is the length of a frame header whose second byte is b1.
func headerLen(b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// frame checks the complete header in g.hdr and moves on to its payload.
func (g *frameGuard) frame() *frameError {
	b0, b1 := g.hdr[0], g.hdr[1]
	g.hn = 0
	op, rsv1 := b0&0x0f, b0&0x40 != 0
	length := uint64(b1 & 0x7f)
	switch length {
	case 126:
		length = uint64(binary.BigEndian.Uint16(g.hdr[2:4]))
	case 127:
		length = binary.BigEndian.Uint64(g.hdr[2:10])
	}
	switch {
	case rsv1 && op >= 0x8:
		return &frameError{protocol.CloseProtocolError, "RSV1 set on a control frame"}
	case rsv1 && op == 0x0:
		return &frameError{protocol.CloseProtocolError, "RSV1 set on a continuation frame"}
	case length>>63 != 0:
		return &frameError{protocol.CloseProtocolError, "frame length has its most significant bit set"}
	}
	g.payload = length
	if op >= 0x8 {
		return nil
	}
	if op != 0x0 {
		g.msgLen = 0
	}
	g.msgLen += length
	if g.limit > 0 && g.msgLen > uint64(g.limit) {
		return &frameError{protocol.CloseMessageTooBig,
			fmt.Sprintf("message too big: %d bytes, limit %d", g.msgLen, g.limit)}
	}
	return nil
}

// guardWriter hands gorilla, when it hijacks the connection, a
// frameGuard in place of the network connection.
type guardWriter struct {
	http.ResponseWriter
	limit int64
}

// Hijack takes over the connection from the HTTP server. Bytes the server
// read beyond the request go to the guard first.
func (w *guardWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	g := &frameGuard{Conn: nc, limit: w.limit}
	g.setRaw(nc)
	if n := brw.Reader.Buffered(); n > 0 {
		buffered, _ := brw.Reader.Peek(n)
		g.pending = append([]byte(nil), buffered...)
	}
	// The server's reader, now empty, is left behind: gorilla reads
	// through a small reader of its own over the guard (see chunkSize).
	brw.Reader.Reset(g)
	return g, brw, nil
}

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (w *guardWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wireLimit is the limit gorilla and the guard apply to a message's bytes
// on the wire.
func wireLimit(opts Options, compressed bool) int64 {
	switch {
	case opts.ReadLimit < 0:
		return 0
	case compressed:
		// The message reader enforces the limit on the decompressed
		// message. This wire limit only refuses frames that could never
		// decompress within it.
		return opts.ReadLimit + opts.ReadLimit/8 + 1024
	}
	return opts.ReadLimit
}
