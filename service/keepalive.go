package service

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// keepaliveTick sends a ping and, unless a pong is already awaited, gives
// the peer PongTimeout to answer it.
func (c *Conn) keepaliveTick() {
	c.mu.Lock()
	if c.state != StateOpen {
		c.mu.Unlock()
		return
	}
	if !c.awaitingPong {
		c.awaitingPong = true
		if c.reading {
			_ = c.netConn.SetReadDeadline(time.Now().Add(c.opts.PongTimeout))
		}
	}
	c.keepalive.Reset(c.opts.PingInterval)
	c.mu.Unlock()
	if err := c.writeControl(websocket.PingMessage, nil, time.Now().Add(c.opts.WriteTimeout)); err != nil && !errors.Is(err, websocket.ErrCloseSent) {
		c.abort(err)
	}
}

// setReading records whether anybody is reading from the connection.
// Nobody reads while a received message waits for the application (or
// while the application works on the last one, before its next Recv), so
// the pong deadline is lifted then; it is set again when reading resumes.
func (c *Conn) setReading(reading bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setReadingLocked(reading)
}

func (c *Conn) setReadingLocked(reading bool) {
	c.reading = reading
	if c.state != StateOpen || !c.awaitingPong {
		return
	}
	if reading {
		_ = c.netConn.SetReadDeadline(time.Now().Add(c.opts.PongTimeout))
	} else {
		_ = c.netConn.SetReadDeadline(time.Time{})
	}
}

// onPong is gorilla's pong handler. It runs in the reading goroutine.
func (c *Conn) onPong(data string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.awaitingPong {
		c.awaitingPong = false
		if c.state == StateOpen {
			_ = c.netConn.SetReadDeadline(time.Time{})
		}
	}
	if ch, ok := c.pings[data]; ok {
		close(ch)
		delete(c.pings, data)
	}
	return nil
}

func (c *Conn) stopKeepaliveLocked() {
	if c.keepalive != nil {
		c.keepalive.Stop()
	}
}

// Ping sends a ping and waits for the peer's pong, or for ctx to end. The
// pong is read by the connection's read loop, which pauses while a received
// message waits for Recv; a Ping made then returns only once the
// application has received that message.
func (c *Conn) Ping(ctx context.Context) error {
	c.mu.Lock()
	if c.state != StateOpen {
		c.mu.Unlock()
		return c.closedErr()
	}
	c.pingSeq++
	data := "wsmap-" + strconv.FormatUint(c.pingSeq, 10)
	ch := make(chan struct{})
	if c.pings == nil {
		c.pings = make(map[string]chan struct{})
	}
	c.pings[data] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pings, data)
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
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.abort(err)
		return c.closedErr()
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return c.ctxErr(ctx)
	case <-c.closing:
		return c.closedErr()
	}
}
