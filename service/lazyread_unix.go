//go:build unix

package service

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
	fn  func(fd uintptr) bool // g.rawRead, made once
	n   int
	err error
}

// ok reports whether the descriptor can be read directly.
func (r *rawReader) ok() bool { return r.rc != nil }

// setRaw lets g read nc's socket directly, if nc has one.
func (g *frameGuard) setRaw(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	g.raw.rc, g.raw.fn = rc, g.rawRead
}

// waitChunk waits until the socket is readable, with no buffer held, and
// then reads what it has into a pooled chunk.
func (g *frameGuard) waitChunk() error {
	r := &g.raw
	r.n, r.err = 0, nil
	if err := r.rc.Read(r.fn); err != nil {
		return err // the deadline passed or the connection was closed
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
func (g *frameGuard) rawRead(fd uintptr) bool {
	b := chunkPool.Get().(*[chunkSize]byte)
	for {
		n, err := syscall.Read(int(fd), b[:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			chunkPool.Put(b)
			return false
		case err != nil:
			chunkPool.Put(b)
			g.raw.err = &net.OpError{Op: "read", Net: g.LocalAddr().Network(), Source: g.LocalAddr(), Addr: g.RemoteAddr(), Err: os.NewSyscallError("read", err)}
			return true
		case n == 0:
			chunkPool.Put(b)
			return true // end of stream
		}
		g.chunk, g.raw.n = b, n
		return true
	}
}

// discardBuffered drops what the socket has received and nobody read,
// without waiting for more. The read deadline is set in the past first,
// so that a goroutine blocked reading gives up; the discarding reads do
// not take the descriptor's read lock, which that goroutine may hold.
func (g *frameGuard) discardBuffered() {
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
