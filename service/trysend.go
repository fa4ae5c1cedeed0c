package service

import (
	"time"

	"github.com/wsmap/wsmap/service/internal/wire"
)

// TrySendPrepared sends messages from ps, in order, at once if that
// needs no waiting: no other write is under way on c, and the socket
// takes them without blocking. It returns how many it sent; the caller
// sends the others (ps[n:]) some other way (SendPrepared, from a
// goroutine that may wait). A connection that is closing, or has failed,
// gives 0; SendPrepared then reports why. Several messages go out in as
// few writes as fit.
//
// A broadcaster uses it to write to idle members from its own goroutine,
// sparing each of them a goroutine wake-up (see package room). Messages
// sent with TrySendPrepared are in order with those c sends otherwise
// only if the caller knows that none of its own is waiting to be sent:
// a message queued for a writer goroutine must not be overtaken.
//
// If the socket takes only part of the last write, the messages in it
// count as sent and the rest is written by a goroutine of its own, under
// the write timeout, before any other write; a failure to write it ends
// the connection as a failed Send does. Only connections without
// compression, over a socket with a file descriptor (plain TCP, Unix),
// and messages that fit in 4 KiB with their header are sent this way;
// TrySendPrepared stops at the first message that does not.
func (c *Conn) TrySendPrepared(ps ...*PreparedMessage) int {
	if len(ps) == 0 {
		return 0
	}
	if !c.writeMu.TryLock() {
		return 0
	}
	if c.State() != StateOpen {
		c.unlockWrite()
		return 0
	}
	n, tail := c.tryWritePrepared(ps)
	if tail == nil {
		c.unlockWrite()
		for _, p := range ps[:n] {
			c.sent(p.typ, len(p.data))
		}
		return n
	}
	for _, p := range ps[:n-1] {
		c.sent(p.typ, len(p.data))
	}
	// The write lock goes with the rest of the frames, as the frame lock
	// does, so that nothing is written before them.
	go c.writeTail(ps[n-1], tail)
	return n
}

// writeTail writes the rest of a frame TrySendPrepared began and releases
// the locks it holds.
func (c *Conn) writeTail(p *PreparedMessage, tail *wire.Tail) {
	defer c.unlockWrite()
	err := c.fw.WriteTail(tail, time.Now().Add(c.opts.WriteTimeout))
	if c.writeResult(c.ctx, err, false) == nil {
		c.sent(p.typ, len(p.data))
	}
}
