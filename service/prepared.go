package service

import (
	"context"
	"time"

	"github.com/wsmap/wsmap/internal/prepared"
	"github.com/wsmap/wsmap/service/internal/wire"
)

// sender is the connection as the prepared.Sender that its context holds
// for package room (see valuesCtx).
type sender Conn

// Send implements prepared.Sender.
func (s *sender) Send(ctx context.Context, ms ...*prepared.Message) error {
	c := (*Conn)(s)
	if len(ms) == 0 {
		return nil
	}
	if err := c.prepare(ms); err != nil {
		return err
	}
	if err := c.lockWrite(ctx); err != nil {
		return err
	}
	defer c.unlockWrite()
	for len(ms) > 0 {
		var n int
		err := c.write(ctx, func() (err error) {
			n, err = c.writePrepared(ms)
			return err
		})
		if err != nil {
			return err
		}
		for _, m := range ms[:n] {
			c.sent(m.Type(), m.Len())
		}
		ms = ms[n:]
	}
	return nil
}

// TrySend implements prepared.Sender.
func (s *sender) TrySend(ms ...*prepared.Message) int {
	c := (*Conn)(s)
	if len(ms) == 0 {
		return 0
	}
	if !c.writeMu.TryLock() {
		return 0
	}
	if c.State() != StateOpen {
		c.unlockWrite()
		return 0
	}
	n, tail := c.tryWritePrepared(ms)
	if tail == nil {
		c.unlockWrite()
		for _, m := range ms[:n] {
			c.sent(m.Type(), m.Len())
		}
		return n
	}
	for _, m := range ms[:n-1] {
		c.sent(m.Type(), m.Len())
	}
	// The write lock goes with the rest of the frames, as the frame lock
	// does, so that nothing is written before them.
	go c.writeTail(ms[n-1], tail)
	return n
}

// writeTail writes the rest of a frame TrySend began and releases the
// locks it holds.
func (c *Conn) writeTail(m *prepared.Message, tail *wire.Tail) {
	defer c.unlockWrite()
	err := c.fw.WriteTail(tail, time.Now().Add(c.opts.WriteTimeout))
	if c.writeResult(c.ctx, err, false) == nil {
		c.sent(m.Type(), m.Len())
	}
}

// valuesCtx is the parent of a connection's context: the values of the
// context it was opened with, without its cancellation or deadline, and
// the connection's prepared.Sender.
type valuesCtx struct {
	parent context.Context
	c      *Conn
}

func (valuesCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (valuesCtx) Done() <-chan struct{}       { return nil }
func (valuesCtx) Err() error                  { return nil }

func (v valuesCtx) Value(key any) any {
	if key == (prepared.Key{}) {
		return (*sender)(v.c)
	}
	return v.parent.Value(key)
}
