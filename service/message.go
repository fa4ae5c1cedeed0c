package service

import (
	"io"
	"sync"

	"github.com/wsmap/wsmap/protocol"
)

// messageReader reads one message's payload, applying the read limit and
// the UTF-8 check, for the read loop (Recv) or a consumer (Reader).
type messageReader struct {
	c    *Conn
	typ  protocol.MessageType
	r    io.Reader
	done chan struct{} // closed when the consumer is finished with it
	// unshared: m is read only by the goroutine that made it, with no
	// other method called meanwhile (the direct receiver's, see
	// readDirect), so that its reads take no lock.
	unshared bool

	mu         sync.Mutex // held during Read; guards the fields below
	n          int64
	utf8       utf8Checker
	err        error // sticky
	gorillaErr error // the error from gorilla, which ends reading
	released   bool
}

// Read reads the payload, returning io.EOF at its end. A violation of the
// read limit or of UTF-8 fails the connection and returns the *CloseError.
func (m *messageReader) Read(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.readLocked(p)
}

// read is Read for the reading helpers below, which take no lock when m
// is unshared.
func (m *messageReader) read(p []byte) (int, error) {
	if m.unshared {
		return m.readLocked(p)
	}
	return m.Read(p)
}

// readLocked is Read, with mu held or m unshared.
func (m *messageReader) readLocked(p []byte) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	if m.released {
		return 0, errStaleReader
	}
	if m.done != nil {
		m.c.rd.streamEvent(evStreamRead)
		defer m.c.rd.streamEvent(evStreamPause)
	}
	n, err := m.r.Read(p)
	m.n += int64(n)
	switch {
	case m.c.opts.ReadLimit > 0 && m.n > m.c.opts.ReadLimit:
		m.err = m.c.fail(&CloseError{Code: protocol.CloseMessageTooBig, Reason: "message too big"})
		return 0, m.err
	case m.typ == protocol.Text && !m.utf8.check(p[:n]):
		m.err = m.c.fail(&CloseError{Code: protocol.CloseInvalidPayload, Reason: "invalid UTF-8 in text message"})
		return 0, m.err
	case err == io.EOF:
		if m.typ == protocol.Text && !m.utf8.complete() {
			m.err = m.c.fail(&CloseError{Code: protocol.CloseInvalidPayload, Reason: "invalid UTF-8 in text message"})
			return 0, m.err
		}
		if ce := m.c.received(m.typ, m.n); ce != nil {
			m.err = m.c.beginClose(ce, true)
			return 0, m.err
		}
		m.err = io.EOF
		m.finishLocked()
	case err != nil:
		m.gorillaErr = err
		ce, fail := classifyReadError(err)
		if fail {
			ce = m.c.fail(ce)
		}
		m.err = ce
		m.finishLocked()
		return n, m.err
	}
	return n, err
}

// readAll reads the whole payload into buf's array, from its start,
// growing it if needed. With a nil buf, or one too small, the payload is
// read into a buffer of its size when the frame guard can tell the size
// (see wire's Remaining). Else, with a nil buf, it is read into a pooled
// scratch buffer until the guard can tell the size of the rest (a
// fragmented message's later frames, once their headers have arrived),
// and moved to a buffer of its size then, or copied out at its size at
// its end: a message costs one allocation whatever its size.
func (m *messageReader) readAll(buf []byte) ([]byte, error) {
	s, _ := m.r.(sizer)
	if s != nil {
		if n, ok := s.Remaining(); ok && (buf == nil || n > cap(buf)) {
			return m.readInto(make([]byte, 0, n))
		}
	}
	if buf != nil {
		return m.readInto(buf[:0])
	}
	sp := scratchPool.Get().(*[]byte)
	data := (*sp)[:0]
	var out []byte
	var err error
	for asks := 0; ; {
		more, end, rerr := m.readSome(data)
		if rerr != nil {
			err = rerr
			break
		}
		if data = more; end {
			out = append(make([]byte, 0, len(data)), data...)
			break
		}
		// Asked a few times at most: telling costs a walk over the
		// frame headers the guard holds.
		if asks < maxSizeAsks && s != nil {
			asks++
			if n, ok := s.Remaining(); ok {
				out = append(make([]byte, 0, len(data)+n), data...)
				out, err = m.readInto(out)
				break
			}
		}
	}
	if cap(data) <= maxPooledScratch {
		*sp = data[:0]
		scratchPool.Put(sp)
	}
	return out, err
}

// maxSizeAsks is how many times readAll asks for the size of the rest of
// a message it reads into scratch.
const maxSizeAsks = 4

// sizer is a payload reader that can tell how many bytes are left.
type sizer interface {
	Remaining() (n int, ok bool)
}

// readInto appends the payload to buf.
func (m *messageReader) readInto(buf []byte) ([]byte, error) {
	for {
		var end bool
		var err error
		buf, end, err = m.readSome(buf)
		if err != nil || end {
			return buf, err
		}
	}
}

// readSome reads once into buf's spare capacity, growing buf first if it
// is full, and reports whether the payload has ended.
func (m *messageReader) readSome(buf []byte) ([]byte, bool, error) {
	if len(buf) == cap(buf) {
		// Full: the payload may have ended exactly here, which an empty
		// read tells without growing the buffer.
		if _, err := m.read(buf[len(buf):]); err == io.EOF {
			return buf, true, nil
		} else if err != nil {
			return nil, false, err
		}
		buf = append(buf, 0)[:len(buf)]
	}
	n, err := m.read(buf[len(buf):cap(buf)])
	buf = buf[:len(buf)+n]
	switch {
	case err == io.EOF:
		return buf, true, nil
	case err != nil:
		return nil, false, err
	}
	return buf, false, nil
}

// scratchPool holds buffers that messages are read into before they are
// copied out at their exact size.
var scratchPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 4096)
	return &b
}}

// maxPooledScratch is the largest scratch buffer kept for reuse.
const maxPooledScratch = 256 << 10

// discard reads and drops the rest of the payload, returning gorilla's
// error if reading fails.
func (m *messageReader) discard() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := io.Copy(io.Discard, m.r); err != nil {
		m.gorillaErr = err
	}
	m.released = true
	m.finishLocked()
	return m.gorillaErr
}

// release marks the consumer finished: later Reads fail and the read loop
// moves on (gorilla skips whatever was not read).
func (m *messageReader) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.released = true
	m.finishLocked()
}

// finishLocked tells, once, that the consumer of a stream handed out by
// the read loop is finished with it: the reader role moves on and the
// loop reads on.
func (m *messageReader) finishLocked() {
	if m.done == nil { // read directly or by the loop itself: nobody waits
		return
	}
	select {
	case <-m.done:
	default:
		// The role moves on before the loop wakes to read on.
		m.c.rd.streamEvent(evStreamDone)
		close(m.done)
	}
}
