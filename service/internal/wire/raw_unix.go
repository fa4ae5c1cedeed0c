//go:build unix

package wire

import (
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// rawReader gives a connection's file descriptor to a guard that reads
// without holding a buffer while it waits.
type rawReader struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool // the guard's rawRead, made once
	n   int
	err error
}

// init lets the guard read nc's socket directly, if nc has one: a TCP or
// Unix connection, not a TLS one, whose bytes must go through TLS.
func (r *rawReader) init(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	r.rc = rc
}

// ok reports whether the descriptor can be read directly.
func (r *rawReader) ok() bool { return r.rc != nil }

// waitChunk waits until the socket is readable, with no buffer held, and
// then reads what it has into a pooled chunk.
func (g *Guard) waitChunk() error {
	r := &g.raw
	if r.fn == nil {
		r.fn = g.rawRead
	}
	r.n, r.err = 0, nil
	if err := r.rc.Read(r.fn); err != nil {
		// The deadline passed or the connection was closed. The error
		// names the raw connection's operation, "raw-read"; to the
		// connection's user it is a read.
		if oe, ok := err.(*net.OpError); ok && oe.Op == "raw-read" {
			e := *oe
			e.Op = "read"
			return &e
		}
		return err
	}
	if r.err != nil {
		return r.err
	}
	if r.n == 0 {
		return io.EOF
	}
	g.data = g.chunk[:r.n]
	return nil
}

// rawRead is called with the socket's descriptor when it may be readable.
// It takes a chunk only for the read itself, and gives it back if there
// was nothing to read, returning false to wait for the socket.
func (g *Guard) rawRead(fd uintptr) bool {
	b := g.takeBuf()
	for {
		n, err := syscall.Read(int(fd), b)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			putBuf(b)
			return false
		case err != nil:
			putBuf(b)
			g.raw.err = &net.OpError{Op: "read", Net: g.LocalAddr().Network(), Source: g.LocalAddr(), Addr: g.RemoteAddr(), Err: os.NewSyscallError("read", err)}
			return true
		case n == 0:
			putBuf(b)
			return true // end of stream
		}
		g.full = n == len(b)
		g.chunk, g.raw.n = b, n
		return true
	}
}

// DiscardBuffered drops what the socket has received and nobody read,
// without waiting for more, so that closing it does not reset the
// connection. The read deadline is set in the past first, so that a
// goroutine blocked reading gives up; the discarding reads do not take
// the descriptor's read lock, which that goroutine may hold.
func (g *Guard) DiscardBuffered() {
	if !g.raw.ok() {
		return
	}
	_ = g.Conn.SetReadDeadline(time.Unix(1, 0))
	var buf [512]byte
	_ = g.raw.rc.Control(func(fd uintptr) {
		for {
			n, err := syscall.Read(int(fd), buf[:])
			if err == syscall.EINTR {
				continue
			}
			if err != nil || n <= 0 {
				return
			}
		}
	})
}

// rawWriter writes to a connection's file descriptor without waiting.
type rawWriter struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool // w.try, made once
	buf []byte
	n   int
}

func (w *rawWriter) init(g *Guard) {
	if g != nil && g.raw.ok() {
		w.rc = g.raw.rc
		w.fn = w.try
	}
}

func (w *rawWriter) ok() bool { return w.rc != nil }

// write writes what the socket takes of b now, and returns how much that
// was: 0 when it takes nothing, or the write fails.
func (w *rawWriter) write(b []byte) int {
	w.buf, w.n = b, 0
	// An error here is a write deadline already past, or a closed
	// connection; either way nothing was written.
	_ = w.rc.Write(w.fn)
	w.buf = nil
	return w.n
}

// try is called once with the descriptor, and never asks to wait.
func (w *rawWriter) try(fd uintptr) bool {
	for {
		n, err := syscall.Write(int(fd), w.buf)
		if err == syscall.EINTR {
			continue
		}
		if n > 0 {
			w.n = n
		}
		return true
	}
}
