package service

import (
	"net"
	"os"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsmap/wsmap/protocol"
)

// Writing frames. On a server connection without compression, a whole
// message (Send, SendPrepared) is one unmasked frame, which the
// connection writes itself: the header and the payload in one write, from
// a pooled chunk, or gathered with the payload in place when it is large.
// gorilla's write buffer is then needed only by Writer streams, which
// borrow it from a pool for the length of a message, so that a connection
// holds no write buffer between messages.
//
// Every write to the socket (these frames, the control frames, a Writer
// stream's frames) holds frameSem for the length of one frame, so that
// frames never interleave and each one's write deadline is its own.
// Control frames wait for it only until their deadline. The one write
// that does not is gorilla's own close frame on a protocol error it
// finds while reading; it is a single write, so it cannot split a frame,
// and the connection is failing then anyway.

// lockFrame waits for the right to write a frame.
func (c *Conn) lockFrame() { c.frameSem <- struct{}{} }

func (c *Conn) unlockFrame() { <-c.frameSem }

// lockFrameUntil waits for the right to write a frame until deadline.
func (c *Conn) lockFrameUntil(deadline time.Time) bool {
	select {
	case c.frameSem <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case c.frameSem <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

// writeFrame writes data as one final frame of the given type, under the
// deadline the caller set in c.wdeadline.
func (c *Conn) writeFrame(typ protocol.MessageType, data []byte) error {
	c.lockFrame()
	defer c.unlockFrame()
	if err := c.frameReady(); err != nil {
		return err
	}
	n := frameHeader(&c.whdr, typ, len(data))
	if n+len(data) <= chunkSize {
		b := chunkPool.Get().(*[chunkSize]byte)
		defer chunkPool.Put(b)
		_, err := c.netConn.Write(b[:appendFrame(b, 0, c.whdr[:n], data)])
		return err
	}
	c.wbufs = append(c.wvec[:0], c.whdr[:n], data)
	_, err := c.wbufs.WriteTo(c.netConn)
	c.wvec = [2][]byte{} // keep no reference to the caller's payload
	return err
}

// writePrepared writes the first of ps, with those after it that fit in
// one chunk together, and returns how many it wrote.
func (c *Conn) writePrepared(ps []*PreparedMessage) (int, error) {
	p := ps[0]
	if len(ps) == 1 || frameHeader(&c.whdr, p.typ, len(p.data))+len(p.data) > chunkSize {
		return 1, c.writeFrame(p.typ, p.data)
	}
	c.lockFrame()
	defer c.unlockFrame()
	if err := c.frameReady(); err != nil {
		return 1, err
	}
	b := chunkPool.Get().(*[chunkSize]byte)
	defer chunkPool.Put(b)
	used, n := 0, 0
	for _, p := range ps {
		h := frameHeader(&c.whdr, p.typ, len(p.data))
		if used+h+len(p.data) > chunkSize {
			break
		}
		used = appendFrame(b, used, c.whdr[:h], p.data)
		n++
	}
	_, err := c.netConn.Write(b[:used])
	return n, err
}

// frameReady, called with the frame lock held, refuses frames after the
// close frame and sets the write deadline from c.wdeadline.
func (c *Conn) frameReady() error {
	if c.closeSent {
		return websocket.ErrCloseSent
	}
	return c.netConn.SetWriteDeadline(c.wdeadline)
}

// appendFrame copies a frame's header and payload into b from offset
// used, which they must fit, and returns the offset after them.
func appendFrame(b *[chunkSize]byte, used int, header, payload []byte) int {
	used += copy(b[used:], header)
	return used + copy(b[used:], payload)
}

// frameHeader writes the header of a final, unmasked frame into h and
// returns its length.
func frameHeader(h *[10]byte, typ protocol.MessageType, n int) int {
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

// writeControl sends a control frame with gorilla, holding the frame lock
// where the connection writes its own frames.
func (c *Conn) writeControl(msgType int, payload []byte, deadline time.Time) error {
	if !c.ownFrames {
		return c.ws.WriteControl(msgType, payload, deadline)
	}
	if !c.lockFrameUntil(deadline) {
		return &net.OpError{Op: "write", Net: "tcp", Err: os.ErrDeadlineExceeded}
	}
	defer c.unlockFrame()
	if c.closeSent {
		return websocket.ErrCloseSent
	}
	err := c.ws.WriteControl(msgType, payload, deadline)
	if msgType == websocket.CloseMessage {
		// After a close frame, gorilla refuses its own writes; the
		// connection's own frames are refused here.
		c.closeSent = true
	}
	return err
}

// onPing answers a ping, as gorilla's default handler does, through the
// frame lock. It runs in the reading goroutine.
func (c *Conn) onPing(data string) error {
	err := c.writeControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	if err == nil || err == websocket.ErrCloseSent {
		return nil
	}
	if _, ok := err.(net.Error); ok {
		return nil // a pong that cannot go out now is not worth failing for
	}
	return err
}
