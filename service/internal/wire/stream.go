package wire

import (
	"errors"

	"github.com/wsmap/wsmap/protocol"
)

// A Stream writes one message whose payload comes piece by piece, in
// frames: the first of the message's type, the others continuations, the
// last final (RFC 6455 section 5.4). Small pieces are gathered in a pooled
// chunk, taken for the length of the message, and go out as a frame when
// it is full; a piece as large as the chunk goes out as a frame of its
// own. Each frame is written under the frame lock, so that control frames
// can go out between them.
//
// The caller writes a connection's messages one at a time: from Stream
// until Close, it writes no other message through the Writer, and it sets
// the Writer's deadline (SetDeadline) for the Stream's frames. A Stream is
// used by one goroutine at a time.
type Stream struct {
	w   *Writer
	op  byte   // the opcode of the next frame: the message's type, then continuation
	buf *Chunk // the payload gathered, after MaxHeaderLen bytes for the header; nil when none
	n   int    // payload bytes in buf
	err error  // the error that broke the stream, or errStreamClosed
}

// streamRoom is the payload a stream's chunk gathers.
const streamRoom = ChunkSize - MaxHeaderLen

var errStreamClosed = errors.New("wire: write to a closed message stream")

// Stream begins a message of the given type.
func (w *Writer) Stream(typ protocol.MessageType) *Stream {
	return &Stream{w: w, op: byte(typ)}
}

// Write adds p to the message. A write error breaks the stream, which
// returns it from then on.
func (s *Stream) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	written := 0
	for len(p) > 0 {
		if s.n == streamRoom {
			if err := s.flush(false); err != nil {
				return written, err
			}
		}
		if s.n == 0 && len(p) >= streamRoom {
			if err := s.direct(p); err != nil {
				return written, err
			}
			return written + len(p), nil
		}
		if s.buf == nil {
			s.buf = GetChunk()
		}
		k := copy(s.buf[MaxHeaderLen+s.n:], p)
		s.n += k
		written += k
		p = p[k:]
	}
	return written, nil
}

// Close ends the message with a final frame: what is gathered, or an
// empty continuation if the last piece went out in a frame of its own.
// It returns the stream's error, if one broke it.
func (s *Stream) Close() error {
	if s.err != nil {
		if s.err == errStreamClosed {
			return nil
		}
		return s.err
	}
	err := s.flush(true)
	if s.buf != nil {
		PutChunk(s.buf)
		s.buf = nil
	}
	if err == nil {
		s.err = errStreamClosed
	}
	return err
}

// flush writes the payload gathered as a frame, the final one if final,
// and empties the buffer.
func (s *Stream) flush(final bool) error {
	b0 := s.b0(final)
	w := s.w
	w.lock()
	defer w.unlock()
	var err error
	if s.buf == nil {
		err = w.frame(b0, nil)
	} else {
		// The header goes right before the payload, which is masked in
		// place: the chunk is the stream's own.
		var key [4]byte
		if w.mask {
			key = newKey()
		}
		h := headerLen(s.n, w.mask)
		start := MaxHeaderLen - h
		putHeader(s.buf[start:], b0, s.n, w.mask, key)
		if w.mask {
			maskAt(key, 0, s.buf[MaxHeaderLen:MaxHeaderLen+s.n])
		}
		err = w.writeChunk(s.buf[start:MaxHeaderLen+s.n], w.deadline)
	}
	s.n = 0
	return s.broken(err)
}

// direct writes p as a frame of its own, nothing being gathered.
func (s *Stream) direct(p []byte) error {
	b0 := s.b0(false)
	s.w.lock()
	defer s.w.unlock()
	return s.broken(s.w.frame(b0, p))
}

// b0 returns the first byte of the next frame, and makes the frames after
// it continuations.
func (s *Stream) b0(final bool) byte {
	b0 := s.op
	if final {
		b0 |= finBit
	}
	s.op = byte(OpContinuation)
	return b0
}

// broken records err, if not nil, as the stream's, giving back its chunk.
func (s *Stream) broken(err error) error {
	if err != nil {
		s.err = err
		if s.buf != nil {
			PutChunk(s.buf)
			s.buf = nil
		}
	}
	return err
}
