package service

import "time"

// TrySendPrepared sends p at once if that needs no waiting: no other
// write is under way on c, and the socket takes the frame without
// blocking. It reports whether p was sent; false means that nothing was
// written, and the caller sends p some other way (SendPrepared, from a
// goroutine that may wait). A connection that is closing, or has failed,
// gives false too; SendPrepared then reports why.
//
// A broadcaster uses it to write to idle members from its own goroutine,
// sparing each of them a goroutine wake-up (see package room). Messages
// sent with TrySendPrepared are in order with those c sends otherwise
// only if the caller knows that none of its own is waiting to be sent:
// a message queued for a writer goroutine must not be overtaken.
//
// If the socket takes only part of the frame, TrySendPrepared returns
// true and the rest is written by a goroutine of its own, under the
// write timeout, before any other write; a failure to write it ends the
// connection as a failed Send does. Only server connections without
// compression, over a socket with a file descriptor (plain TCP, Unix),
// and messages that fit in 4 KiB with their header are sent this way;
// for others TrySendPrepared returns false.
func (c *Conn) TrySendPrepared(p *PreparedMessage) bool {
	if !c.ownFrames {
		return false
	}
	var hdr [10]byte
	n := frameHeader(&hdr, p.typ, len(p.data))
	if n+len(p.data) > chunkSize {
		return false
	}
	select {
	case c.writeSem <- struct{}{}:
	default:
		return false
	}
	if c.State() != StateOpen {
		c.unlockWrite()
		return false
	}
	select {
	case c.frameSem <- struct{}{}:
	default:
		c.unlockWrite()
		return false
	}
	if c.closeSent || !c.rawW.init(c.ws.NetConn()) {
		c.unlockFrame()
		c.unlockWrite()
		return false
	}
	b := chunkPool.Get().(*[chunkSize]byte)
	end := appendFrame(b, 0, hdr[:n], p.data)
	written := c.rawW.write(b[:end])
	switch {
	case written == end:
		c.unlockFrame()
		c.unlockWrite()
		chunkPool.Put(b)
		c.sent(p.typ, len(p.data))
		return true
	case written == 0:
		// The socket is full, or the write failed: SendPrepared waits,
		// or reports the failure.
		c.unlockFrame()
		c.unlockWrite()
		chunkPool.Put(b)
		return false
	}
	// Both locks go with the rest of the frame, so that nothing is
	// written before it.
	go c.writeTail(p, b, written, end)
	return true
}

// writeTail writes the rest of a frame TrySendPrepared began, b[from:to],
// and releases the locks it holds.
func (c *Conn) writeTail(p *PreparedMessage, b *[chunkSize]byte, from, to int) {
	defer c.unlockWrite()
	c.wdeadline = time.Now().Add(c.opts.WriteTimeout)
	_ = c.ws.SetWriteDeadline(c.wdeadline)
	err := c.netConn.SetWriteDeadline(c.wdeadline)
	if err == nil {
		_, err = c.netConn.Write(b[from:to])
	}
	c.unlockFrame()
	chunkPool.Put(b)
	if c.writeResult(c.ctx, err, false) == nil {
		c.sent(p.typ, len(p.data))
	}
}
