package wsmaptest

import (
	"context"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// pipeBuffer is how many bytes one direction of a pipe holds before a
// writer waits for the reader, as a socket's buffers would.
const pipeBuffer = 64 << 10

// stream is one direction of a pipe: bytes written by one end and read by
// the other. Its channels say when to look again; they are signalled
// without blocking, so a waiter always re-checks under mu.
type stream struct {
	mu       sync.Mutex
	buf      []byte
	eof      bool // the writer closed this direction
	gone     bool // the reader closed its end
	cut      bool // the network drops everything
	readable chan struct{}
	writable chan struct{}
}

func newStream() *stream {
	return &stream{readable: make(chan struct{}, 1), writable: make(chan struct{}, 1)}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// deadline is a read or write deadline: a channel closed when it passes.
type deadline struct {
	mu      sync.Mutex
	timer   *time.Timer
	expired chan struct{}
	passed  bool
	gen     uint64 // counts set calls, so that an old timer does nothing
}

func newDeadline() *deadline { return &deadline{expired: make(chan struct{})} }

// set moves the deadline; the zero time removes it.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.passed {
		d.expired, d.passed = make(chan struct{}), false
	}
	if t.IsZero() {
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		d.passed = true
		close(d.expired)
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.gen == gen && !d.passed {
			d.passed = true
			close(d.expired)
		}
	})
}

func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expired
}

// pipeConn is one end of an in-memory connection: a net.Conn with
// buffered streams each way, deadlines and a half-close, like a TCP
// connection over loopback, but with nothing of the operating system's.
type pipeConn struct {
	in, out        *stream
	rd, wd         *deadline
	closed         chan struct{}
	closeOnce      sync.Once
	local, remote  net.Addr
	onClose        func()
	closeWriteOnce sync.Once
}

type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }

// newPipe returns the two ends of an in-memory connection.
func newPipe(client, server string) (*pipeConn, *pipeConn) {
	a, b := newStream(), newStream()
	c := &pipeConn{in: a, out: b, rd: newDeadline(), wd: newDeadline(), closed: make(chan struct{}),
		local: pipeAddr(client), remote: pipeAddr(server)}
	s := &pipeConn{in: b, out: a, rd: newDeadline(), wd: newDeadline(), closed: make(chan struct{}),
		local: pipeAddr(server), remote: pipeAddr(client)}
	return c, s
}

func timeout(op string) error {
	return &net.OpError{Op: op, Net: "pipe", Err: os.ErrDeadlineExceeded}
}

func (p *pipeConn) Read(b []byte) (int, error) {
	s := p.in
	for {
		select {
		case <-p.closed:
			return 0, &net.OpError{Op: "read", Net: "pipe", Err: net.ErrClosed}
		case <-p.rd.wait():
			return 0, timeout("read")
		default:
		}
		s.mu.Lock()
		switch {
		case len(s.buf) > 0 && !s.cut:
			n := copy(b, s.buf)
			s.buf = s.buf[n:]
			if len(s.buf) == 0 {
				s.buf = nil
			}
			s.mu.Unlock()
			signal(s.writable)
			return n, nil
		case s.eof && !s.cut:
			s.mu.Unlock()
			return 0, io.EOF
		}
		s.mu.Unlock()
		if len(b) == 0 {
			return 0, nil
		}
		select {
		case <-s.readable:
		case <-p.closed:
		case <-p.rd.wait():
		}
	}
}

func (p *pipeConn) Write(b []byte) (int, error) {
	s := p.out
	written := 0
	for {
		select {
		case <-p.closed:
			return written, &net.OpError{Op: "write", Net: "pipe", Err: net.ErrClosed}
		case <-p.wd.wait():
			return written, timeout("write")
		default:
		}
		s.mu.Lock()
		switch {
		case s.eof:
			s.mu.Unlock()
			return written, &net.OpError{Op: "write", Net: "pipe", Err: net.ErrClosed}
		case s.gone:
			s.mu.Unlock()
			return written, &net.OpError{Op: "write", Net: "pipe", Err: io.ErrClosedPipe}
		case s.cut:
			s.mu.Unlock()
			return len(b), nil // dropped on the way
		}
		n := min(pipeBuffer-len(s.buf), len(b)-written)
		s.buf = append(s.buf, b[written:written+n]...)
		written += n
		s.mu.Unlock()
		if n > 0 {
			signal(s.readable)
		}
		if written == len(b) {
			return written, nil
		}
		select {
		case <-s.writable:
		case <-p.closed:
		case <-p.wd.wait():
		}
	}
}

// CloseWrite ends this end's writing: the other end reads what was
// written, then io.EOF.
func (p *pipeConn) CloseWrite() error {
	p.closeWriteOnce.Do(func() {
		s := p.out
		s.mu.Lock()
		s.eof = true
		s.mu.Unlock()
		signal(s.readable)
	})
	return nil
}

func (p *pipeConn) Close() error {
	p.closeOnce.Do(func() {
		_ = p.CloseWrite()
		s := p.in
		s.mu.Lock()
		s.gone = true
		s.buf = nil
		s.mu.Unlock()
		signal(s.writable)
		close(p.closed)
		p.rd.set(time.Time{})
		p.wd.set(time.Time{})
		if p.onClose != nil {
			p.onClose()
		}
	})
	return nil
}

// setCut makes this end's outgoing stream drop what is written to it and
// hold back what it holds, or carry bytes again.
func (p *pipeConn) setCut(cut bool) {
	for _, s := range []*stream{p.in, p.out} {
		s.mu.Lock()
		s.cut = cut
		s.mu.Unlock()
		signal(s.readable)
		signal(s.writable)
	}
}

func (p *pipeConn) LocalAddr() net.Addr  { return p.local }
func (p *pipeConn) RemoteAddr() net.Addr { return p.remote }

func (p *pipeConn) SetDeadline(t time.Time) error {
	p.rd.set(t)
	p.wd.set(t)
	return nil
}

func (p *pipeConn) SetReadDeadline(t time.Time) error {
	p.rd.set(t)
	return nil
}

func (p *pipeConn) SetWriteDeadline(t time.Time) error {
	p.wd.set(t)
	return nil
}

// pipeListener hands the server's ends of in-memory connections to an
// HTTP server.
type pipeListener struct {
	conns  chan net.Conn
	done   chan struct{}
	closer sync.Once
}

func newListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.closer.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr("wsmaptest") }

// hand gives the server's end of a new connection to the server.
func (l *pipeListener) hand(ctx context.Context, s *pipeConn) error {
	select {
	case l.conns <- s:
		return nil
	case <-l.done:
		return net.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}
