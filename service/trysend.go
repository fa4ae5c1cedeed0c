package service

import (
	"time"

	"github.com/wsmap/wsmap/service/internal/wire"
)

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
	if c.fw == nil {
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
	begun, tail := c.fw.TryWrite(p.typ, p.data)
	switch {
	case !begun:
		c.unlockWrite()
		return false
	case tail == nil:
		c.unlockWrite()
		c.sent(p.typ, len(p.data))
		return true
	}
	// The write lock goes with the rest of the frame, as the frame lock
	// does, so that nothing is written before it.
	go c.writeTail(p, tail)
	return true
}

// writeTail writes the rest of a frame TrySendPrepared began and releases
// the locks it holds.
func (c *Conn) writeTail(p *PreparedMessage, tail *wire.Tail) {
	defer c.unlockWrite()
	deadline := time.Now().Add(c.opts.WriteTimeout)
	_ = c.ws.SetWriteDeadline(deadline)
	c.fw.SetDeadline(deadline)
	err := c.fw.WriteTail(tail, deadline)
	if c.writeResult(c.ctx, err, false) == nil {
		c.sent(p.typ, len(p.data))
	}
}
