package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// runRPC opens the connections, then each makes -messages JSON-RPC 2.0
// calls of -method, keeping -window of them in flight, and checks every
// answer: its "jsonrpc", that its id is that of a call in flight on that
// connection, and its result. A call's id is its sequence number on the
// connection, from 1; answers may come in any order. The report (phase
// "rpc") counts the calls answered correctly as messages, with their
// round-trip latencies and calls per second; a wrong answer, or an
// answer that is an error, counts as corrupted, a call never answered as
// lost.
func runRPC(ctx context.Context, cfg config, out io.Writer) (bool, error) {
	var t tally
	start := time.Now()
	conns, _ := dialAll(ctx, cfg, &t)
	defer closeAll(conns, protocol.CloseNormal)
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	var wg sync.WaitGroup
	for i, c := range conns {
		if c == nil {
			continue
		}
		wg.Go(func() {
			if err := calls(ctx, cfg, uint64(i), c, &t); err != nil {
				t.connErrors.Add(1)
				t.err(err)
			}
		})
	}
	wg.Wait()
	rep := t.report("rpc", cfg, time.Since(start))
	if rep.Seconds > 0 {
		rep.PerSecond = float64(rep.Messages) / rep.Seconds
	}
	return rep.clean() && ctx.Err() == nil, json.NewEncoder(out).Encode(rep)
}

// answer is a JSON-RPC 2.0 response as wsload reads it.
type answer struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// appendCall appends the seq-th call (from 1) of connection id, of
// method, to b.
func appendCall(b []byte, method string, id, seq uint64, size int) []byte {
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"method":"`...)
	b = append(b, method...)
	b = append(b, `","params":`...)
	return append(appendParams(b, method, id, seq, size), '}')
}

// appendParams appends the parameters of that call: for "add", the
// connection and sequence numbers; for "echo", an array of one string of
// size bytes that starts with both.
func appendParams(b []byte, method string, id, seq uint64, size int) []byte {
	if method == "add" {
		b = strconv.AppendUint(append(b, '['), id, 10)
		return append(strconv.AppendUint(append(b, ','), seq, 10), ']')
	}
	at := len(b)
	b = strconv.AppendUint(append(b, `["`...), id, 10)
	b = strconv.AppendUint(append(b, '-'), seq, 10)
	for i := len(b) - at - 2; i < size; i++ {
		b = append(b, 'a'+byte((uint64(i)+seq)%26))
	}
	return append(b, `"]`...)
}

// appendResult appends the result the server must answer that call
// with: the sum of the two numbers, or the parameters themselves.
func appendResult(b []byte, method string, id, seq uint64, size int) []byte {
	if method == "add" {
		return strconv.AppendUint(b, id+seq, 10)
	}
	return appendParams(b, method, id, seq, size)
}

// calls makes the calls of connection id: a goroutine sends them,
// waiting for a free place in the window, while this one reads the
// answers.
func calls(ctx context.Context, cfg config, id uint64, c *service.Conn, t *tally) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := uint64(cfg.messages)
	sentAt := make([]atomic.Int64, n+1) // by sequence number: ns since start, 0 until sent
	answered := make([]bool, n+1)
	window := make(chan struct{}, cfg.window)
	start := time.Now()
	sendErr := make(chan error, 1)
	go func() {
		var call []byte
		for seq := uint64(1); seq <= n; seq++ {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				sendErr <- nil // the reader says why
				return
			}
			call = appendCall(call[:0], cfg.method, id, seq, cfg.size)
			sentAt[seq].Store(int64(time.Since(start)) | 1)
			if err := c.Send(ctx, protocol.Text, call); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()

	var buf, want []byte
	lat := make([]time.Duration, 0, n)
	defer func() { t.addRTTs(lat) }()
	for done := uint64(0); done < n; {
		_, data, err := c.RecvInto(ctx, buf)
		if err != nil {
			t.lost.Add(int64(n - done))
			cancel()
			if serr := <-sendErr; serr != nil && ctx.Err() == nil {
				err = serr
			}
			return fmt.Errorf("after %d answers: %w", done, err)
		}
		buf = data
		// An answer that cannot be read, or whose id is that of no call
		// in flight, answers nothing: the calls it might have answered
		// are still waiting.
		var a answer
		if err := json.Unmarshal(data, &a); err != nil {
			t.corrupted.Add(1)
			t.err(fmt.Errorf("an answer that is not a response: %w", err))
			continue
		}
		seq, err := strconv.ParseUint(string(a.ID), 10, 64)
		if err != nil || seq == 0 || seq > n || answered[seq] || sentAt[seq].Load() == 0 {
			t.corrupted.Add(1)
			t.err(fmt.Errorf("an answer with id %.20s, which no call in flight has", a.ID))
			continue
		}
		answered[seq] = true
		done++
		lat = append(lat, time.Since(start)-time.Duration(sentAt[seq].Load()))
		<-window
		want = appendResult(want[:0], cfg.method, id, seq, cfg.size)
		switch {
		case a.Error != nil:
			t.corrupted.Add(1)
			t.err(fmt.Errorf("a call answered with error %d %q", a.Error.Code, a.Error.Message))
		case a.JSONRPC != "2.0" || !bytes.Equal(a.Result, want):
			t.corrupted.Add(1)
			t.err(fmt.Errorf("a call answered with %.60s", data))
		default:
			t.messages.Add(1)
		}
	}
	return <-sendErr
}
