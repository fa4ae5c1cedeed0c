package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// joined is the message a broadcast server sends a client once it is a
// member, before relaying anything to it.
const joined = "joined"

// runBroadcast opens the connections and waits until each has heard
// "joined" from the server; then the first connection sends -messages
// messages of -size bytes, keeping up to -window of them in flight, and
// every connection (the sender too) checks that it receives each one,
// byte for byte and in order. A message is in flight until every
// connection has received it; its latency is measured for each
// delivery. The report (phase "broadcast") counts deliveries as
// messages, with deliveries per second.
func runBroadcast(ctx context.Context, cfg config, out io.Writer) (bool, error) {
	var t tally
	conns, _ := dialAll(ctx, cfg, &t)
	defer closeAll(conns, protocol.CloseNormal)
	var stalled []*service.Conn
	if cfg.stalled > 0 {
		sc := cfg
		sc.conns, sc.stalledSockets = cfg.stalled, make([]*net.TCPConn, cfg.stalled)
		var st tally
		stalled, _ = dialAll(ctx, sc, &st)
		defer dropStalled(sc.stalledSockets)
		t.connected.Add(st.connected.Load())
		t.dialErrors.Add(st.dialErrors.Load())
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	members := waitJoined(ctx, conns, &t)
	var st tally
	waitJoined(ctx, stalled, &st) // only how many failed to join matters
	if n := st.connErrors.Load(); n > 0 {
		t.connErrors.Add(n)
		t.err(fmt.Errorf("%d stalled members did not join", n))
	}
	if len(members) == 0 {
		rep := t.report("broadcast", cfg, 0)
		return false, json.NewEncoder(out).Encode(rep)
	}

	n := cfg.messages
	sentAt := make([]atomic.Int64, n) // when each message went out, in ns since start
	left := make([]atomic.Int64, n)   // receivers still to get each message
	for i := range left {
		left[i].Store(int64(len(members)))
	}
	slots := make(chan struct{}, cfg.window)
	start := time.Now()
	delivered := func(seq int) {
		if left[seq].Add(-1) == 0 {
			// Its slot, unless the exchange was cut short before the
			// message was sent (the sender failed, or -timeout passed).
			select {
			case <-slots:
			case <-ctx.Done():
			}
		}
	}

	var wg sync.WaitGroup
	for _, c := range members {
		wg.Go(func() {
			if err := receiveAll(ctx, cfg, c, start, sentAt, delivered, &t); err != nil {
				t.connErrors.Add(1)
				t.err(err)
			}
		})
	}
	sendErr := func() error {
		msg := make([]byte, cfg.size)
		for seq := range n {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			payload(msg, 0, uint64(seq))
			sentAt[seq].Store(int64(time.Since(start)))
			if err := members[0].Send(ctx, protocol.Binary, msg); err != nil {
				return err
			}
		}
		return nil
	}()
	if sendErr != nil {
		t.err(fmt.Errorf("sender: %w", sendErr))
		t.connErrors.Add(1)
		cancel()
	}
	wg.Wait()
	elapsed := time.Since(start)
	rep := t.report("broadcast", cfg, elapsed)
	if rep.Seconds > 0 {
		rep.PerSecond = float64(rep.Messages) / rep.Seconds
	}
	return rep.clean() && ctx.Err() == nil, json.NewEncoder(out).Encode(rep)
}

// dropStalled ends the stalled members' connections by closing their
// sockets: a closing handshake could not get through their full
// buffers.
func dropStalled(sockets []*net.TCPConn) {
	for _, s := range sockets {
		if s != nil {
			_ = s.Close()
		}
	}
}

// waitJoined waits for every open connection's "joined" and returns those
// that heard it.
func waitJoined(ctx context.Context, conns []*service.Conn, t *tally) []*service.Conn {
	ok := make([]bool, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		if c == nil {
			continue
		}
		wg.Go(func() {
			_, data, err := c.Recv(ctx)
			if err == nil && string(data) != joined {
				err = fmt.Errorf("first message %.40q, want %q", data, joined)
			}
			if err != nil {
				t.connErrors.Add(1)
				t.err(fmt.Errorf("joining: %w", err))
				return
			}
			ok[i] = true
		})
	}
	wg.Wait()
	var members []*service.Conn
	for i, c := range conns {
		if ok[i] {
			members = append(members, c)
		}
	}
	return members
}

// receiveAll receives the broadcast on one connection, checking each
// message against what the sender sent. Messages are told apart by the
// sequence number in their payload: one that skips ahead counts those
// it skipped as lost (so that the sender is not held up by them), one
// that comes late as reordered.
func receiveAll(ctx context.Context, cfg config, c *service.Conn, start time.Time,
	sentAt []atomic.Int64, delivered func(int), t *tally) error {
	n := len(sentAt)
	want := make([]byte, cfg.size)
	var buf []byte
	lat := make([]time.Duration, 0, n)
	defer func() { t.addRTTs(lat) }()
	for next := 0; next < n; {
		_, data, err := c.RecvInto(ctx, buf)
		if err != nil {
			t.lost.Add(int64(n - next))
			for ; next < n; next++ {
				delivered(next)
			}
			if errors.Is(err, context.Canceled) {
				return nil // the sender failed, which is reported
			}
			return fmt.Errorf("after %d messages: %w", len(lat), err)
		}
		buf = data
		t.messages.Add(1)
		seq := next // where a message without a usable number counts
		if len(data) >= 16 && binary.BigEndian.Uint64(data[0:8]) == 0 {
			if s := binary.BigEndian.Uint64(data[8:16]); s < uint64(n) {
				seq = int(s)
			}
		}
		switch {
		case seq < next:
			t.reordered.Add(1)
			continue
		case seq > next:
			t.lost.Add(int64(seq - next))
			for ; next < seq; next++ {
				delivered(next)
			}
		}
		lat = append(lat, time.Since(start)-time.Duration(sentAt[seq].Load()))
		if payload(want, 0, uint64(seq)); !bytes.Equal(data, want) {
			t.corrupted.Add(1)
		}
		delivered(seq)
		next = seq + 1
	}
	return nil
}
