package wire

import "time"

// A Tail is the rest of a chunk TryWriteFrames began: the frame lock is
// held until WriteTail has written it.
type Tail struct {
	b        *Chunk
	from, to int
}

// TryWriteFrames writes frames from fs, each the final frame of its
// message, at once if that needs no waiting: the frame lock is free, the
// close frame has not gone out, and the socket, written through its
// descriptor without blocking, takes them. Frames are gathered into
// chunks, as many as fit, and the chunks written one after another until
// the socket takes less than a whole one. It returns how many frames were
// begun: a frame over a chunk, and every frame after it, is left to the
// caller, and so are all frames on sockets without a descriptor (TLS). If
// the socket took only part of a chunk, the frame lock stays held and
// tail says what is left, for WriteTail; the chunk's frames count as
// begun. Otherwise tail is nil.
func TryWriteFrames[F Framer](w *Writer, fs []F) (begun int, tail *Tail) {
	if len(fs) == 0 || !w.raw.ok() || !w.tryLock() {
		return 0, nil
	}
	if w.closeSent {
		w.unlock()
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
	w.unlock()
	PutChunk(b)
	return begun, nil
}

// WriteTail writes the rest of a chunk TryWriteFrames began, before
// deadline, and releases the frame lock.
func (w *Writer) WriteTail(t *Tail, deadline time.Time) error {
	defer w.unlock()
	defer PutChunk(t.b)
	if err := w.conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := w.conn.Write(t.b[t.from:t.to])
	return err
}
