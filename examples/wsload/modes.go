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
	held, err := hold(ctx, cfg, conns, cfg.idle, &t)
	if err != nil {
		return false, err
	}
	if n := held.CloseCodes["open at timeout"]; int64(n) != held.Connected || ctx.Err() != nil {
		ok = false
	}
	return ok, enc.Encode(held)
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
