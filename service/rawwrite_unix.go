//go:build unix

package service

import (
	"net"
	"syscall"
)

// rawWriter writes to a connection's file descriptor without waiting,
// for TrySendPrepared. It is used under frameSem.
type rawWriter struct {
	rc    syscall.RawConn
	fn    func(fd uintptr) bool // w.try, made once
	buf   []byte
	n     int
	tried bool // init has looked for a descriptor
}

// init borrows, the first time it is called, the handle on the socket's
// descriptor that nc's frame guard reads with, and reports whether there
// is one. There is none over TLS, whose bytes must go through the TLS
// connection.
func (w *rawWriter) init(nc net.Conn) bool {
	if !w.tried {
		w.tried = true
		if g, ok := nc.(*frameGuard); ok && g.raw.ok() {
			w.rc, w.fn = g.raw.rc, w.try
		}
	}
	return w.rc != nil
}

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
