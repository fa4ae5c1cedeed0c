package service

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// startKeepaliveLocked schedules the connection's keepalive pings: in its
// server's schedule for their interval, or on a timer of its own.
func (c *Conn) startKeepaliveLocked() {
	if c.reg != nil {
		c.keepalive = c.reg.pings.of(c.opts.PingInterval).add(c)
		return
	}
	c.keepalive = &keepalive{c: c}
	c.keepalive.own = time.AfterFunc(c.opts.PingInterval, c.keepaliveTick)
}

// keepaliveTick sends a ping and, unless a pong is already awaited, gives
// the peer PongTimeout to answer it.
func (c *Conn) keepaliveTick() {
	c.mu.Lock()
	if c.state != StateOpen {
		c.mu.Unlock()
		return
	}
	if t := c.keepalive.own; t != nil {
		t.Reset(c.opts.PingInterval)
	}
	c.mu.Unlock()
	c.rd.pingSent()
	if err := c.writeControl(websocket.PingMessage, nil, time.Now().Add(c.opts.WriteTimeout)); err != nil && !errors.Is(err, websocket.ErrCloseSent) {
		c.abort(err)
	}
}

// onPong is gorilla's pong handler. It runs in the reading goroutine.
func (c *Conn) onPong(data string) error { return c.pongIn([]byte(data)) }

// pongIn notes a pong, whose payload is as the frame guard reads it: a
// keepalive pong lifts the pong deadline, and Ping's waiter for the
// payload, if any, is told.
func (c *Conn) pongIn(payload []byte) error {
	c.rd.pongReceived()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pings == nil {
		return nil
	}
	if ch, ok := c.pings.waiting[string(payload)]; ok {
		close(ch)
		delete(c.pings.waiting, string(payload))
	}
	return nil
}

func (c *Conn) stopKeepaliveLocked() {
	switch k := c.keepalive; {
	case k == nil:
	case k.own != nil:
		k.own.Stop()
	default:
		k.s.remove(k)
	}
}

// pings are the pings sent by Ping, whose pongs are awaited; made by the
// first Ping.
type pings struct {
	seq     uint64
	waiting map[string]chan struct{} // by payload
}

// Ping sends a ping and waits for the peer's pong, or for ctx to end. The
// pong is read whatever the application does, unless the messages the
// connection holds for it fill their bound (see Options.RecvQueue).
func (c *Conn) Ping(ctx context.Context) error {
	c.mu.Lock()
	if c.state != StateOpen {
		c.mu.Unlock()
		return c.closedErr()
	}
	if c.pings == nil {
		c.pings = &pings{waiting: make(map[string]chan struct{})}
	}
	c.pings.seq++
	data := "wsmap-" + strconv.FormatUint(c.pings.seq, 10)
	ch := make(chan struct{})
	c.pings.waiting[data] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pings.waiting, data)
		c.mu.Unlock()
	}()

	deadline := time.Now().Add(c.opts.WriteTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.writeControl(websocket.PingMessage, []byte(data), deadline); err != nil {
		if errors.Is(err, websocket.ErrCloseSent) {
			return c.closedErr()
		}
		if cerr := ctxEnded(ctx, err); cerr != nil {
			return cerr
		}
		c.abort(err)
		return c.closedErr()
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return c.ctxErr(ctx)
	case <-c.ctx.Done(): // the connection is closing
		return c.closedErr()
	}
}
