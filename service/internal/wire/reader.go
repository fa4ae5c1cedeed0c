package wire

import (
	"encoding/binary"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wsmap/wsmap/protocol"
)

// Control hears the control frames a Guard reads as a message reader
// (ReadMessages). An error it returns ends reading with that error.
type Control interface {
	// Ping and Pong get the frame's payload, valid only during the call.
	Ping(payload []byte) error
	Pong(payload []byte) error
	// Close gets a valid close frame's code (1005 when it has none) and
	// reason, and returns the error that reading returns from then on,
	// which must not be nil.
	Close(code protocol.CloseCode, reason string) error
}

// messageState is where a Guard that reads messages is in the frames.
type messageState struct {
	ctl  Control
	key  [4]byte
	pos  int   // payload bytes of the current frame unmasked so far
	open bool  // a message has begun and its last frame's payload is not all read
	more bool  // the last data frame's header said more frames follow
	err  error // what ended reading, returned by every later read
}

// ReadMessages makes g the connection's message reader, in place of a
// reader of its bytes (Read): from then on NextMessage reads the frames,
// applies every rule of RFC 6455 section 5 to them (the guard's own, and
// those the guard otherwise leaves to the reader above it: the mask of a
// client's frame, the order of a fragmented message's frames, a control
// frame's FIN, a close frame's code and reason) and tells ctl of the
// control frames. A connection with compression is not read this way.
func (g *Guard) ReadMessages(ctl Control) {
	g.msg.ctl = ctl
}

// NextMessage skips what is left of the current message, reads up to the
// start of the next one, answering the control frames before it through
// the Control, and returns its type and the reader of its payload, valid
// until the next call. A violation is a *FrameError; the peer's close
// frame the error Control.Close returned; the end of the stream
// io.ErrUnexpectedEOF. Errors are final: every later call returns the
// same.
func (g *Guard) NextMessage() (protocol.MessageType, io.Reader, error) {
	if g.msg.err != nil {
		return 0, nil, g.msg.err
	}
	if g.msg.open {
		if err := g.skipMessage(); err != nil {
			return 0, nil, g.failRead(err)
		}
	}
	for {
		op, err := g.readHeader()
		if err != nil {
			return 0, nil, g.failRead(err)
		}
		if op >= OpClose {
			if err := g.control(op); err != nil {
				return 0, nil, g.failRead(err)
			}
			continue
		}
		// readHeader refuses a continuation here: no message is open.
		g.msg.open = true
		return protocol.MessageType(op), (*body)(g), nil
	}
}

// body is the guard as the reader of the current message's payload.
type body Guard

// Read reads the payload, across the message's frames and the control
// frames between them, unmasked; io.EOF at the message's end.
func (b *body) Read(p []byte) (int, error) {
	g := (*Guard)(b)
	if g.msg.err != nil {
		return 0, g.msg.err
	}
	for g.payload == 0 {
		if !g.msg.more {
			g.msg.open = false
			return 0, io.EOF
		}
		op, err := g.readHeader()
		if err != nil {
			return 0, g.failRead(err)
		}
		if op >= OpClose {
			if err := g.control(op); err != nil {
				return 0, g.failRead(err)
			}
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if uint64(len(p)) > g.payload {
		p = p[:g.payload]
	}
	n, err := g.readIn(p)
	if g.masked {
		maskAt(g.msg.key, g.msg.pos, p[:n])
	}
	g.msg.pos += n
	g.payload -= uint64(n)
	if err != nil {
		return n, g.failRead(err)
	}
	return n, nil // io.EOF comes from the next Read
}

// MaxSizeHint is the largest message size Remaining tells: a header
// alone never makes a reader allocate more than this ahead of the
// payload.
const MaxSizeHint = 256 << 10

// maxHintFrames bounds the frame headers Remaining follows.
const maxHintFrames = 64

// Remaining returns how many payload bytes of the current message are
// left to read, if the guard can tell: from the current frame's header
// when the frame is the message's last, else from the headers of the
// message's next frames among the bytes the guard holds (at most 64,
// control frames between them skipped). ok is false when it cannot tell
// and when the size would exceed MaxSizeHint or the message limit. The
// size is a hint for the buffer to read into: reading applies every rule
// whatever it says.
func (b *body) Remaining() (n int, ok bool) {
	g := (*Guard)(b)
	total := g.payload
	if g.msg.more {
		held := g.pending
		if len(held) == 0 {
			held = g.data
		}
		if g.payload > uint64(len(held)) {
			return 0, false
		}
		held = held[g.payload:]
		for i := 0; ; i++ {
			if i == maxHintFrames || len(held) < 2 || len(held) < headerSize(held[1]) {
				return 0, false
			}
			n := headerSize(held[1])
			length, err := check(held[0], held[1], held[2:n], g.masked, g.compressed)
			if err != nil {
				return 0, false
			}
			op, final := Opcode(held[0]&0x0f), held[0]&0x80 != 0
			held = held[n:]
			if op == OpContinuation {
				total += length
				if final || total > MaxSizeHint {
					break
				}
			} else if op < OpClose {
				return 0, false // out of sequence: reading will say
			}
			if length > uint64(len(held)) {
				return 0, false
			}
			held = held[length:]
		}
	}
	if total > MaxSizeHint || (g.limit > 0 && total > uint64(g.limit)) {
		return 0, false
	}
	return int(total), true
}

// skipMessage reads and drops the rest of the current message.
func (g *Guard) skipMessage() error {
	var buf [512]byte
	for {
		_, err := (*body)(g).Read(buf[:])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readIn reads into p what is pending, else from the connection.
func (g *Guard) readIn(p []byte) (int, error) {
	if len(g.pending) > 0 {
		n := copy(p, g.pending)
		g.pending = g.pending[n:]
		return n, nil
	}
	return g.readConn(p)
}

// readFull reads exactly len(p) bytes.
func (g *Guard) readFull(p []byte) error {
	for len(p) > 0 {
		n, err := g.readIn(p)
		p = p[n:]
		if err != nil {
			return err
		}
	}
	return nil
}

// readHeader reads and checks the next frame's header, and returns its
// opcode: the guard's rules (see Guard), then a client's mask, a control
// frame's FIN and the sequence of a fragmented message, whose violations
// are reported together, as one reason, and last the message limit.
func (g *Guard) readHeader() (Opcode, error) {
	if err := g.readFull(g.hdr[:2]); err != nil {
		return 0, err
	}
	b0, b1 := g.hdr[0], g.hdr[1]
	n := headerSize(b1)
	if err := g.readFull(g.hdr[2:n]); err != nil {
		return 0, err
	}
	length, ferr := check(b0, b1, g.hdr[2:n], g.masked, g.compressed)
	if ferr != nil {
		return 0, ferr
	}
	op := Opcode(b0 & 0x0f)
	final := b0&0x80 != 0
	if op < OpClose {
		if ferr := g.count(op, length); ferr != nil {
			return 0, ferr
		}
	}
	var why []string
	if b0&0x40 != 0 && !g.compressed {
		why = append(why, "RSV1 set")
	}
	switch {
	case op >= OpClose:
		if !final {
			why = append(why, "FIN not set on control")
		}
	case op == OpContinuation:
		if !g.msg.more {
			why = append(why, "continuation after FIN")
		}
	default:
		if g.msg.more {
			why = append(why, "data before FIN")
		}
	}
	if masked := b1&0x80 != 0; masked != g.masked {
		why = append(why, "bad MASK")
	}
	if why != nil {
		return 0, &FrameError{protocol.CloseProtocolError, strings.Join(why, ", ")}
	}
	if g.masked {
		copy(g.msg.key[:], g.hdr[n-4:n])
	}
	g.msg.pos = 0
	g.payload = length
	if op < OpClose {
		g.msg.more = !final
	}
	return op, nil
}

// control reads the payload of a control frame whose header has been
// read, and tells the Control.
func (g *Guard) control(op Opcode) error {
	if op != OpClose {
		return g.pingPong(op)
	}
	var buf [125]byte // kept apart from the ping's, which the Control gets
	p := buf[:g.payload]
	if err := g.readPayload(p); err != nil {
		return err
	}
	code, reason := protocol.CloseNoStatus, ""
	if len(p) >= 2 {
		code = protocol.CloseCode(binary.BigEndian.Uint16(p))
		if !code.ValidReceived() {
			return &FrameError{protocol.CloseProtocolError, "bad close code " + strconv.Itoa(int(code))}
		}
		reason = string(p[2:])
		if !utf8.ValidString(reason) {
			return &FrameError{protocol.CloseProtocolError, "invalid utf8 payload in close frame"}
		}
	}
	return g.msg.ctl.Close(code, reason)
}

// pingPong reads a ping's or a pong's payload and tells the Control.
func (g *Guard) pingPong(op Opcode) error {
	var buf [125]byte
	p := buf[:g.payload]
	if err := g.readPayload(p); err != nil {
		return err
	}
	if op == OpPing {
		return g.msg.ctl.Ping(p)
	}
	return g.msg.ctl.Pong(p)
}

// readPayload reads a control frame's payload, whose length is that of p,
// and unmasks it.
func (g *Guard) readPayload(p []byte) error {
	if err := g.readFull(p); err != nil {
		return err
	}
	g.payload = 0
	if g.masked {
		maskAt(g.msg.key, 0, p)
	}
	return nil
}

// failRead makes err the error of every later read: the end of the
// stream, wherever it comes, is io.ErrUnexpectedEOF, since a connection
// ends with a close frame.
func (g *Guard) failRead(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	g.msg.err = err
	return err
}
