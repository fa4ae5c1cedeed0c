package main

import (
	"context"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// runIdle opens the connections, reports (phase "idle", with handshake
// latencies), then holds them without a message for -idle and reports
// again (phase "hold"): every connection should still be open then.
// With -alive, each connection then sends one message and checks its
// echo (phase "alive"); with -hold, wsload then waits for the server to
// close the connections and reports their close codes (phase "closed").
// Otherwise it closes them with 1001.
func runIdle(ctx context.Context, cfg config, out io.Writer) (bool, error) {
	var t tally
	enc := json.NewEncoder(out)
	start := time.Now()
	conns, lat := dialAll(ctx, cfg, &t)
	var opened []time.Duration
	for i, c := range conns {
		if c != nil {
			opened = append(opened, lat[i])
		}
	}
	t.addRTTs(opened)
	rep := t.report("idle", cfg, time.Since(start))
	if err := enc.Encode(rep); err != nil {
		return false, err
	}
	ok := rep.clean()
	more := cfg.alive || cfg.hold
	held := hold(ctx, cfg, conns, cfg.idle, !more, &t)
	if n := held.CloseCodes["open at timeout"]; int64(n) != held.Connected || ctx.Err() != nil {
		ok = false
	}
	if err := enc.Encode(held); err != nil {
		return false, err
	}
	if cfg.alive {
		alive := echoOnce(ctx, cfg, conns, &t)
		if !alive.clean() || alive.Messages != alive.Connected {
			ok = false
		}
		if err := enc.Encode(alive); err != nil {
			return false, err
		}
	}
	if !cfg.hold {
		if more {
			closeAll(conns, protocol.CloseGoingAway)
		}
		return ok, nil
	}
	var ct tally // the close codes of this phase alone
	ct.connected.Store(t.connected.Load())
	closed := hold(ctx, cfg, conns, cfg.timeout, true, &ct)
	closed.Phase = "closed"
	return ok, enc.Encode(closed)
}

// echoOnce has every open connection send one message and checks its
// echo, and reports (phase "alive") how many came back.
func echoOnce(ctx context.Context, cfg config, conns []*service.Conn, t *tally) *Report {
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	t.messages.Store(0)
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range conns {
		if c == nil {
			continue
		}
		wg.Go(func() {
			one := cfg
			one.messages = 1
			one.window = 1
			if err := echo(ctx, one, uint64(i), c, nil, t); err != nil {
				t.connErrors.Add(1)
				t.err(err)
			}
		})
	}
	wg.Wait()
	return t.report("alive", cfg, time.Since(start))
}

// runHandshakes opens -conns connections, -dial-parallel at a time, each
// closed with 1000 as soon as it is open, and reports the handshakes'
// latencies and rate (phase "handshake"). The latency is the opening
// handshake's; the closing handshake is part of the load but not timed.
func runHandshakes(ctx context.Context, cfg config, out io.Writer) (bool, error) {
	var t tally
	sem := make(chan struct{}, cfg.dialParallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	lat := make([]time.Duration, 0, cfg.conns)
	start := time.Now()
	for i := range cfg.conns {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			begin := time.Now()
			c, err := dialOne(ctx, cfg, i)
			if err != nil {
				t.dialErrors.Add(1)
				t.err(err)
				return
			}
			d := time.Since(begin)
			t.connected.Add(1)
			if err := c.Close(protocol.CloseNormal, ""); err != nil {
				if code, _ := service.CloseStatus(err); code != protocol.CloseNormal {
					t.connErrors.Add(1)
					t.err(err)
				}
			}
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.addRTTs(lat)
	rep := t.report("handshake", cfg, elapsed)
	if elapsed > 0 {
		rep.Handshakes = float64(rep.Connected) / elapsed.Seconds()
	}
	return rep.clean() && ctx.Err() == nil, json.NewEncoder(out).Encode(rep)
}
