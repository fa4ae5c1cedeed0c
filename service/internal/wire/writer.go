package wire

import (
	"context"
	"errors"
	"net"
	"os"
	"time"

	"github.com/wsmap/wsmap/internal/xsync"
	"github.com/wsmap/wsmap/protocol"
)

// Writer writes every frame of a connection after the opening handshake:
// whole messages (WriteFrame, WriteFrames, TryWriteFrames), the frames of
// a message written piece by piece (Stream), and control frames
// (WriteControl). Frames are masked with a fresh key each when the
// connection is a client's (RFC 6455 section 5.3), and never compressed.
//
// Every write to the socket holds the frame lock for the length of one
// frame, so that frames never interleave, and sets the frame's own write
// deadline before it may block. The Writer also knows whether the close
// frame has gone out: it refuses frames after it.
//
// Its zero value is not usable; NewWriter makes one.
type Writer struct {
	conn net.Conn    // where frames are written and deadlines set
	mu   xsync.Mutex // the frame lock
	raw  rawWriter
	mask bool // frames are masked: the connection is a client's

	// Guarded by the frame lock.
	closeSent bool
	hdr       [MaxHeaderLen]byte
	vec       [2][]byte
	bufs      net.Buffers

	// Set by the caller before writing a message, under its own message
	// lock (see SetDeadline).
	deadline time.Time
}

// NewWriter returns the Writer of conn, the network connection itself,
// below g, the guard that reads the same connection for gorilla. The
// Writer takes the write direction over from g: from then on g refuses
// the writes gorilla makes through it (see Guard.Write). The Writer
// writes for the side g reads for: a client's frames, those to a server,
// are masked. TryWriteFrames uses g's handle on the socket's descriptor.
// With a nil g (in tests), the Writer writes unmasked frames, as a
// server does, and never writes without blocking.
func NewWriter(conn net.Conn, g *Guard) *Writer {
	w := &Writer{conn: conn}
	if g != nil {
		w.mask = !g.masked
		g.writeOwned.Store(true)
	}
	w.raw.init(g)
	return w
}

// lock waits for the frame lock.
func (w *Writer) lock() { _ = w.mu.Lock(context.Background()) }

// unlock releases the frame lock.
func (w *Writer) unlock() { w.mu.Unlock() }

// tryLock takes the frame lock if it is free, and reports whether it did.
func (w *Writer) tryLock() bool { return w.mu.TryLock() }

// lockUntil waits for the frame lock until deadline (forever if it is
// zero), and reports whether it got it.
func (w *Writer) lockUntil(deadline time.Time) bool {
	if w.tryLock() {
		return true
	}
	if deadline.IsZero() {
		w.lock()
		return true
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	return w.mu.Lock(ctx) == nil
}

// ErrCloseSent is returned by writes after the close frame.
var ErrCloseSent = errors.New("websocket: close sent")

// ErrDeadline is the error of a control frame that could not take the
// frame lock before its deadline.
var ErrDeadline = &net.OpError{Op: "write", Net: "tcp", Err: os.ErrDeadlineExceeded}

// ErrControl is the error of a control frame that RFC 6455 forbids: an
// opcode that is not a control frame's, or a payload over 125 bytes.
var ErrControl = errors.New("wire: invalid control frame")

// SetDeadline sets the write deadline of the frames of the next message
// written (WriteFrame, WriteFrames, TryWriteFrames' rest, a Stream's
// frames). The caller serializes it with writing them, as it serializes
// messages; control frames have deadlines of their own.
func (w *Writer) SetDeadline(t time.Time) { w.deadline = t }

// ready, called with the frame lock held before a write that may block,
// refuses frames after the close frame and sets the write deadline.
func (w *Writer) ready(deadline time.Time) error {
	if w.closeSent {
		return ErrCloseSent
	}
	return w.conn.SetWriteDeadline(deadline)
}

// WriteControl writes a control frame (OpClose, OpPing or OpPong) with
// payload, waiting for the frame lock until deadline, and writing it
// before deadline. After a close frame, it refuses frames, its own
// included.
func (w *Writer) WriteControl(op Opcode, payload []byte, deadline time.Time) error {
	if op != OpClose && op != OpPing && op != OpPong || len(payload) > MaxControlPayload {
		return ErrControl
	}
	if !w.lockUntil(deadline) {
		return ErrDeadline
	}
	defer w.unlock()
	if w.closeSent {
		return ErrCloseSent
	}
	b := GetChunk()
	defer PutChunk(b)
	n := putFrame(b[:], finBit|byte(op), payload, w.mask)
	err := w.writeChunk(b[:n], deadline)
	if op == OpClose {
		w.closeSent = true
	}
	return err
}

// WriteFrame writes data as one final frame of the given type: a whole
// message.
func (w *Writer) WriteFrame(typ protocol.MessageType, data []byte) error {
	w.lock()
	defer w.unlock()
	return w.frame(finBit|byte(typ), data)
}

// frame writes one frame whose first byte is b0, with the frame lock
// held: in a pooled chunk, header and payload together, when it fits in
// one; otherwise, unmasked, its header and the payload in place in one
// gathered write, and masked, in pieces masked in a pooled big chunk.
func (w *Writer) frame(b0 byte, data []byte) error {
	if headerLen(len(data), w.mask)+len(data) <= ChunkSize {
		b := GetChunk()
		defer PutChunk(b)
		return w.writeChunk(b[:putFrame(b[:], b0, data, w.mask)], w.deadline)
	}
	if err := w.ready(w.deadline); err != nil {
		return err
	}
	if w.mask {
		return w.maskedFrame(b0, data)
	}
	n := putHeader(w.hdr[:], b0, len(data), false, [4]byte{})
	w.bufs = append(w.vec[:0], w.hdr[:n], data)
	_, err := w.bufs.WriteTo(w.conn)
	w.vec = [2][]byte{} // keep no reference to the caller's payload
	return err
}

// maskedFrame writes a masked frame too large for a chunk, with the frame
// lock held and the deadline set: the payload is masked into a pooled big
// chunk a piece at a time, the caller's bytes left as they are.
func (w *Writer) maskedFrame(b0 byte, data []byte) error {
	key := newKey()
	b := bigChunkPool.Get().(*bigChunk)
	defer bigChunkPool.Put(b)
	used := putHeader(b[:], b0, len(data), true, key)
	for pos := 0; pos < len(data); used = 0 {
		n := copy(b[used:], data[pos:])
		maskAt(key, pos, b[used:used+n])
		if _, err := w.conn.Write(b[:used+n]); err != nil {
			return err
		}
		pos += n
	}
	return nil
}

// A Framer is a message to write as one frame.
type Framer interface {
	Frame() (protocol.MessageType, []byte)
}

// WriteFrames writes the first of fs, with those after it that fit in one
// chunk together, in one write, and returns how many it wrote.
func WriteFrames[F Framer](w *Writer, fs []F) (int, error) {
	typ, data := fs[0].Frame()
	if len(fs) == 1 || headerLen(len(data), w.mask)+len(data) > ChunkSize {
		return 1, w.WriteFrame(typ, data)
	}
	w.lock()
	defer w.unlock()
	b := GetChunk()
	defer PutChunk(b)
	used, n := gather(w, b, fs)
	return n, w.writeChunk(b[:used], w.deadline)
}

// writeChunk writes b, frames put in a chunk, with the frame lock held.
// Where the socket's descriptor is at hand, what the socket takes at once
// is written first, with no deadline to set: only a write that has to
// wait sets deadline, and waits for the rest.
func (w *Writer) writeChunk(b []byte, deadline time.Time) error {
	if w.closeSent {
		return ErrCloseSent
	}
	if w.raw.ok() {
		n := w.raw.write(b)
		if n == len(b) {
			return nil
		}
		b = b[n:]
	}
	if err := w.conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := w.conn.Write(b)
	return err
}

// gather puts the first frames of fs that fit into b, final frames of
// their messages, returning the bytes used and how many frames they are.
// The frame lock is held.
func gather[F Framer](w *Writer, b *Chunk, fs []F) (used, n int) {
	for _, f := range fs {
		typ, data := f.Frame()
		if used+headerLen(len(data), w.mask)+len(data) > ChunkSize {
			break
		}
		used += putFrame(b[used:], finBit|byte(typ), data, w.mask)
		n++
	}
	return used, n
}
