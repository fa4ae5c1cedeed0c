package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/wsmap/wsmap/protocol"
)

// Peer says whose frames a Guard reads.
type Peer uint8

const (
	// FromClient frames are masked; a server's guard reads them.
	FromClient Peer = iota
	// FromServer frames are unmasked and follow the HTTP response to the
	// opening handshake; a client's guard reads them.
	FromServer
)

// Guard reads a connection's frames, in one of two ways. On a server
// connection without compression it is the message reader itself
// (ReadMessages, NextMessage), and gorilla has no part in reading.
// Elsewhere it is the network connection gorilla holds: gorilla reads the
// connection's bytes through it, and writes through it only until a
// Writer takes the write direction over (see Write).
//
// Reading, the guard follows the frames in the bytes and refuses, with a
// close code and a reason, before gorilla reads the frame:
//
//   - RSV2 or RSV3 ("RSV2 or RSV3 set");
//   - where compression was negotiated, RSV1 on a control or continuation
//     frame (RFC 7692 section 6.1), which gorilla lets through;
//   - a reserved opcode ("reserved opcode 3");
//   - a masked frame from a server (RFC 6455 section 5.1);
//   - a control frame longer than 125 bytes (section 5.5);
//   - a 64-bit length with its most significant bit set (section 5.2),
//     which gorilla refuses as a message too big;
//   - a message longer on the wire than the limit, as soon as a frame
//     header announces it (1009, "message too big: N bytes, limit L").
//
// The others all 1002. Under gorilla, gorilla checks the rest itself,
// with reasons of its own: RSV1 without compression, an unmasked frame
// from a client, a fragmented control frame, a frame out of the sequence
// of a fragmented message, a close frame's code and reason. The bytes of
// a frame the guard refuses are held back: gorilla sees a read error, the
// *FrameError, instead. Reading messages, the guard checks those too,
// with the same reasons (see readHeader).
//
// A client's guard first passes the HTTP response through unread, then
// follows frames once its header ends, if its status is 101.
//
// A Guard is read by one goroutine at a time.
type Guard struct {
	net.Conn
	pending []byte // bytes to give out before reading the connection

	limit      int64 // wire bytes per message; 0 for none
	masked     bool  // frames must be masked
	compressed bool  // RSV1 may mark a message's first frame, and nothing else

	resp *respScan // the HTTP response, on a client's guard

	hdr     [MaxHeaderLen]byte
	hn      int    // header bytes seen of the current frame
	payload uint64 // payload bytes left in the current frame
	msgLen  uint64 // wire bytes of the current message so far
	err     *FrameError

	// writeOwned: a Writer writes the connection's frames (NewWriter),
	// and the guard refuses writes.
	writeOwned atomic.Bool

	// Reading messages (ReadMessages), in place of gorilla.
	msg messageState

	// Reading the socket (see readConn): data is the unread part of
	// chunk, a pooled buffer (a Chunk, or a big chunk when full says the
	// last read filled its buffer) held only while it has unread bytes.
	raw   rawReader
	chunk []byte
	data  []byte
	full  bool
}

// FrameError is a violation a Guard found: the close code and reason to
// fail the connection with.
type FrameError struct {
	Code   protocol.CloseCode
	Reason string
}

func (e *FrameError) Error() string { return "websocket: " + e.Reason }

// NewGuard returns a guard reading nc, which first gives out pending
// (bytes read from nc by others, such as an HTTP server, beyond the
// request), for frames from peer. It applies no message limit and allows
// no compression until configured.
func NewGuard(nc net.Conn, pending []byte, peer Peer) *Guard {
	g := &Guard{Conn: nc, pending: pending, masked: peer == FromClient}
	if peer == FromServer {
		g.resp = &respScan{active: true}
	}
	g.raw.init(nc)
	return g
}

// Configure sets the message limit, in bytes on the wire (0 for none),
// and whether compression was negotiated, under which RSV1 may mark a
// message's first frame and the guard refuses it on others. A client calls it once the handshake has told it
// so, before reading frames: a client's guard gives out no byte after the
// response's header until its next read.
func (g *Guard) Configure(limit int64, compressed bool) {
	g.limit, g.compressed = limit, compressed
}

// ReadsDirectly reports whether the guard waits for bytes on the socket's
// descriptor without holding a buffer; HoldsChunk whether it holds a
// read buffer now. Both are for tests.
func (g *Guard) ReadsDirectly() bool { return g.raw.ok() }

// HoldsChunk reports whether the guard holds a pooled read buffer.
func (g *Guard) HoldsChunk() bool { return g.chunk != nil }

func (g *Guard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.readIn(p)
	start := 0
	if g.resp != nil && g.resp.active {
		end, done := g.resp.scan(p[:n])
		if !done {
			return n, err
		}
		g.resp.active = false
		g.resp.passthrough = !g.resp.switching
		if end < n {
			// Frames follow: keep them for the next read, which comes
			// once the caller has configured the guard.
			g.pending = append(append([]byte(nil), p[end:n]...), g.pending...)
			return end, nil
		}
		start = end
	}
	if g.resp != nil && g.resp.passthrough {
		return n, err
	}
	pass, ferr := g.scan(p[start:n])
	if ferr != nil {
		g.err = ferr
		if start+pass == 0 {
			return 0, ferr
		}
		return start + pass, nil
	}
	return n, err
}

// scan follows the frames in b. It returns how many bytes of b gorilla
// may have: all of them, or, on a violation, those before the offending
// frame's header.
func (g *Guard) scan(b []byte) (int, *FrameError) {
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
		if g.hn < 2 || g.hn < headerSize(g.hdr[1]) {
			continue
		}
		if err := g.frame(); err != nil {
			return max(start, 0), err
		}
	}
	return len(b), nil
}

// headerSize is the length of a frame header whose second byte is b1.
func headerSize(b1 byte) int {
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
func (g *Guard) frame() *FrameError {
	g.hn = 0
	length, err := check(g.hdr[0], g.hdr[1], g.hdr[2:], g.masked, g.compressed)
	if err != nil {
		return err
	}
	g.payload = length
	op := Opcode(g.hdr[0] & 0x0f)
	if op >= OpClose {
		return nil
	}
	return g.count(op, length)
}

// count adds a data frame's length to its message's, and refuses the
// frame if the message goes over the limit.
func (g *Guard) count(op Opcode, length uint64) *FrameError {
	if op != OpContinuation {
		g.msgLen = 0
	}
	g.msgLen += length
	if g.limit > 0 && g.msgLen > uint64(g.limit) {
		return &FrameError{protocol.CloseMessageTooBig,
			fmt.Sprintf("message too big: %d bytes, limit %d", g.msgLen, g.limit)}
	}
	return nil
}

// check applies the header rules a Guard enforces (all but the message
// limit) to a frame header: its first two bytes and the bytes after them
// (the extended length, if any). It returns the payload's length.
func check(b0, b1 byte, ext []byte, masked, compressed bool) (uint64, *FrameError) {
	op := b0 & 0x0f
	control := op >= 0x8
	length := uint64(b1 & 0x7f)
	switch length {
	case 126:
		length = uint64(binary.BigEndian.Uint16(ext))
	case 127:
		length = binary.BigEndian.Uint64(ext)
	}
	rsv1 := b0&0x40 != 0
	switch {
	case b0&0x30 != 0:
		return 0, &FrameError{protocol.CloseProtocolError, "RSV2 or RSV3 set"}
	case op > 0x2 && op != 0x8 && op != 0x9 && op != 0xa:
		return 0, &FrameError{protocol.CloseProtocolError, fmt.Sprintf("reserved opcode %d", op)}
	case rsv1 && compressed && control:
		return 0, &FrameError{protocol.CloseProtocolError, "RSV1 set on a control frame"}
	case rsv1 && compressed && op == 0x0:
		return 0, &FrameError{protocol.CloseProtocolError, "RSV1 set on a continuation frame"}
	case !masked && b1&0x80 != 0:
		return 0, &FrameError{protocol.CloseProtocolError, "masked frame from a server"}
	case control && length > 125:
		return 0, &FrameError{protocol.CloseProtocolError, "control frame longer than 125 bytes"}
	case length>>63 != 0:
		return 0, &FrameError{protocol.CloseProtocolError, "frame length has its most significant bit set"}
	}
	return length, nil
}

// respScan finds the end of an HTTP response's header, as net/http reads
// it: lines end with LF, optionally after CR, and an empty line ends the
// header. It notes whether the status is 101 Switching Protocols.
type respScan struct {
	active      bool // the response's header is still being read
	passthrough bool // the response was not a 101: no frames follow
	switching   bool // the status line said 101
	line        int  // bytes in the current line, a final CR left out
	cr          bool // the current line's last byte was CR
	first       bool // the status line is done
	status      [12]byte
}

// scan reads b, part of the response, and returns where its header ends
// in b and whether it did.
func (s *respScan) scan(b []byte) (int, bool) {
	for i, c := range b {
		if c == '\n' {
			if !s.first {
				s.first = true
				s.switching = string(s.status[9:12]) == "101" && string(s.status[:5]) == "HTTP/"
			} else if s.line == 0 {
				return i + 1, true
			}
			s.line, s.cr = 0, false
			continue
		}
		if s.cr {
			s.line++ // a CR not followed by LF belongs to the line
		}
		s.cr = c == '\r'
		if !s.cr {
			if !s.first && s.line < len(s.status) {
				s.status[s.line] = c
			}
			s.line++
		}
	}
	return len(b), false
}

// ErrWriteOwned is the error of a write through a guard once a Writer
// writes the connection's frames.
var ErrWriteOwned = errors.New("wire: the connection's frames are written by its frame writer")

// Write writes p to the connection: gorilla writes through the guard,
// which it holds as its connection. Once a Writer writes the connection's
// frames (NewWriter), Write refuses, with ErrWriteOwned, and writes
// nothing: gorilla then writes nothing of its own accord but the close
// frame of a protocol error it finds while reading, and the connection's
// owner sends that close frame through the Writer instead, when it sees
// the error.
func (g *Guard) Write(p []byte) (int, error) {
	if g.writeOwned.Load() {
		return 0, ErrWriteOwned
	}
	return g.Conn.Write(p)
}

// SetWriteDeadline sets the connection's write deadline, unless a Writer
// writes the connection's frames: each frame's deadline is then the
// Writer's, and the call does nothing.
func (g *Guard) SetWriteDeadline(t time.Time) error {
	if g.writeOwned.Load() {
		return nil
	}
	return g.Conn.SetWriteDeadline(t)
}

var _ io.ReadWriter = (*Guard)(nil)
