package wire

import (
	"net"
	"os"
	"time"

	"github.com/wsmap/wsmap/protocol"
)

// Writer owns the writing side of a connection's socket: the frame lock,
// which every write to the socket holds for the length of one frame (so
// that frames never interleave and each one's write deadline is its own),
// whether the close frame has gone out, and the frames a server writes
// itself: a whole message as one final, unmasked frame, its header and
// payload in one write, from a pooled chunk, or gathered with the payload
// in place when it is large.
//
// Frames that gorilla writes (control frames, the frames of a streamed
// message) are written while holding the lock too (Lock, LockUntil).
//
// Its zero value is not usable; NewWriter makes one.
type Writer struct {
	conn net.Conn // where frames are written and deadlines set
	sem  chan struct{}
	raw  rawWriter

	// Guarded by the frame lock.
	closeSent bool
	hdr       [10]byte
	vec       [2][]byte
	bufs      net.Buffers

	// Set by the caller before WriteFrame, under its own message lock.
	deadline time.Time
}

// NewWriter returns a Writer for conn, the network connection itself
// (below any Guard). g, if not nil, is the guard reading the same
// connection, whose handle on the socket's descriptor TryWriteFrames uses.
func NewWriter(conn net.Conn, g *Guard) *Writer {
	w := &Writer{conn: conn, sem: make(chan struct{}, 1)}
	w.raw.init(g)
	return w
}

// Lock waits for the frame lock.
func (w *Writer) Lock() { w.sem <- struct{}{} }

// Unlock releases the frame lock.
func (w *Writer) Unlock() { <-w.sem }

// TryLock takes the frame lock if it is free, and reports whether it did.
func (w *Writer) TryLock() bool {
	select {
	case w.sem <- struct{}{}:
		return true
	default:
		return false
	}
}

// LockUntil waits for the frame lock until deadline, and reports whether
// it got it.
func (w *Writer) LockUntil(deadline time.Time) bool {
	if w.TryLock() {
		return true
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case w.sem <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

// ErrCloseSent is returned by writes after the close frame.
var ErrCloseSent = errCloseSent{}

type errCloseSent struct{}

func (errCloseSent) Error() string { return "websocket: close sent" }

// CloseSent reports, under the frame lock, whether the close frame has
// been written.
func (w *Writer) CloseSent() bool { return w.closeSent }

// SetCloseSent records, under the frame lock, that the close frame has
// been written: WriteFrame and TryWriteFrames refuse frames from then on.
func (w *Writer) SetCloseSent() { w.closeSent = true }

// SetDeadline sets the write deadline of the frames the next WriteFrame or
// WriteFrames writes. The caller serializes it with those calls.
func (w *Writer) SetDeadline(t time.Time) { w.deadline = t }

// ErrDeadline is the error of a control frame that could not take the
// frame lock before its deadline.
var ErrDeadline = &net.OpError{Op: "write", Net: "tcp", Err: os.ErrDeadlineExceeded}

// ready, called with the frame lock held, refuses frames after the close
// frame and sets the write deadline.
func (w *Writer) ready() error {
	if w.closeSent {
		return ErrCloseSent
	}
	return w.conn.SetWriteDeadline(w.deadline)
}

// WriteFrame writes data as one final, unmasked frame of the given type.
func (w *Writer) WriteFrame(typ protocol.MessageType, data []byte) error {
	w.Lock()
	defer w.Unlock()
	n := FrameHeader(&w.hdr, typ, len(data))
	if n+len(data) <= ChunkSize {
		b := GetChunk()
		defer PutChunk(b)
		return w.writeChunk(b[:appendFrame(b, 0, w.hdr[:n], data)])
	}
	if err := w.ready(); err != nil {
		return err
	}
	w.bufs = append(w.vec[:0], w.hdr[:n], data)
	_, err := w.bufs.WriteTo(w.conn)
	w.vec = [2][]byte{} // keep no reference to the caller's payload
	return err
}

// A Framer is a message to write as one frame.
type Framer interface {
	Frame() (protocol.MessageType, []byte)
}

// WriteFrames writes the first of fs, with those after it that fit in one
// chunk together, in one write, and returns how many it wrote.
func WriteFrames[F Framer](w *Writer, fs []F) (int, error) {
	typ, data := fs[0].Frame()
	if len(fs) == 1 || FrameHeader(&w.hdr, typ, len(data))+len(data) > ChunkSize {
		return 1, w.WriteFrame(typ, data)
	}
	w.Lock()
	defer w.Unlock()
	b := GetChunk()
	defer PutChunk(b)
	used, n := gather(w, b, fs)
	return n, w.writeChunk(b[:used])
}

// writeChunk writes b, frames gathered in a chunk, with the frame lock
// held. Where the socket's descriptor is at hand, what the socket takes
// at once is written first, with no deadline to set: only a write that
// has to wait sets the write deadline, and waits for the rest.
func (w *Writer) writeChunk(b []byte) error {
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
	if err := w.conn.SetWriteDeadline(w.deadline); err != nil {
		return err
	}
	_, err := w.conn.Write(b)
	return err
}

// gather puts the first frames of fs that fit into b, returning the bytes
// used and how many frames they are. The frame lock is held.
func gather[F Framer](w *Writer, b *Chunk, fs []F) (used, n int) {
	for _, f := range fs {
		typ, data := f.Frame()
		h := FrameHeader(&w.hdr, typ, len(data))
		if used+h+len(data) > ChunkSize {
			break
		}
		used = appendFrame(b, used, w.hdr[:h], data)
		n++
	}
	return used, n
}

// A Tail is the rest of a chunk TryWriteFrames began: the frame lock is held
// until WriteTail has written it.
type Tail struct {
	b        *Chunk
	from, to int
}

// TryWriteFrames writes frames from fs, each a final, unmasked frame,
// at once if that needs no waiting: the frame lock is free, the close
// frame has not gone out, and the socket, written through its descriptor
// without blocking, takes them. Frames are gathered into chunks, as many
// as fit, and the chunks written one after another until the socket
// takes less than a whole one. It returns how many frames were begun: a
// frame over a chunk, and every frame after it, is left to the caller,
// and so are all frames on sockets without a descriptor (TLS). If the
// socket took only part of a chunk, the frame lock stays held and tail
// says what is left, for WriteTail; the chunk's frames count as begun.
// Otherwise tail is nil.
func TryWriteFrames[F Framer](w *Writer, fs []F) (begun int, tail *Tail) {
	if len(fs) == 0 || !w.raw.ok() || !w.TryLock() {
		return 0, nil
	}
	if w.closeSent {
		w.Unlock()
		return 0, nil
	}
	b := GetChunk()
	for begun < len(fs) {
		used, n := gather(w, b, fs[begun:])
		if n == 0 {
			break // a frame over a chunk
		}
		written := w.raw.write(b[:used])
		switch {
		case written == used:
			begun += n
			continue
		case written > 0:
			return begun + n, &Tail{b: b, from: written, to: used}
		}
		break // the socket is full, or the write failed
	}
	w.Unlock()
	PutChunk(b)
	return begun, nil
}

// WriteTail writes the rest of a frame TryWriteFrames began, before deadline,
// and releases the frame lock.
func (w *Writer) WriteTail(t *Tail, deadline time.Time) error {
	defer w.Unlock()
	defer PutChunk(t.b)
	if err := w.conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := w.conn.Write(t.b[t.from:t.to])
	return err
}

// appendFrame copies a frame's header and payload into b from offset
// used, which they must fit, and returns the offset after them.
func appendFrame(b *Chunk, used int, header, payload []byte) int {
	used += copy(b[used:], header)
	return used + copy(b[used:], payload)
}

// FrameHeader writes the header of a final, unmasked frame into h and
// returns its length.
func FrameHeader(h *[10]byte, typ protocol.MessageType, n int) int {
	h[0] = 0x80 | byte(typ)
	switch {
	case n < 126:
		h[1] = byte(n)
		return 2
	case n <= 0xffff:
		h[1] = 126
		h[2], h[3] = byte(n>>8), byte(n)
		return 4
	}
	h[1] = 127
	for i := range 8 {
		h[2+i] = byte(uint64(n) >> (56 - 8*i))
	}
	return 10
}
