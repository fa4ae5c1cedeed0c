package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/message/jsonrpc"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// rpcServer serves h on loopback with the subprotocol "jsonrpc" and
// returns its URL; the cleanup shuts it down.
func rpcServer(t *testing.T, h service.HandlerFunc) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &service.Server{Handler: &service.Endpoint{Handler: h, Protocols: []string{"jsonrpc"}}}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return "ws://" + l.Addr().String() + "/"
}

// TestRPC calls a JSON-RPC server made with the message package, whose
// handlers answer concurrently, so that answers may come out of order.
func TestRPC(t *testing.T) {
	t.Parallel()
	r := &message.Router{}
	r.Handle("add", message.Func(func(_ context.Context, p [2]int64) (int64, error) { return p[0] + p[1], nil }))
	r.Handle("echo", message.Func(func(_ context.Context, p json.RawMessage) (json.RawMessage, error) { return p, nil }))
	url := rpcServer(t, func(ctx context.Context, c *service.Conn) error {
		return message.New(c, jsonrpc.Codec{}, r, nil).Serve(ctx)
	})
	for _, method := range []string{"add", "echo"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			got := only(t, wsload(t, 0, "-mode", "rpc", "-method", method, "-size", "200", "-conns", "5", "-messages", "300", "-window", "16", "-protocols", "jsonrpc", url))
			want := Report{Phase: "rpc", Mode: "rpc", Conns: 5, Connected: 5, Messages: 1500}
			if diff := cmp.Diff(want, got, ignoreVarying); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
			if got.PerSecond <= 0 || got.LatencyUS == nil || got.LatencyUS.P50 <= 0 || got.LatencyUS.P50 > got.LatencyUS.Max {
				t.Errorf("calls per second %v, latency %+v", got.PerSecond, got.LatencyUS)
			}
		})
	}
}

// TestRPCCountsWhatGoesWrong has a server written by hand answer each
// odd call after the call that follows it, and answer call 3 with a
// wrong sum, call 5 with an error, call 7 with its answer and one more
// under an id that was never sent, and call 9 never: wsload accepts the
// order, counts each fault, and gives up on call 9 at -timeout.
func TestRPCCountsWhatGoesWrong(t *testing.T) {
	t.Parallel()
	url := rpcServer(t, func(ctx context.Context, c *service.Conn) error {
		var held []string // an odd call's answers, sent after the next call's
		for {
			_, data, err := c.Recv(ctx)
			if err != nil {
				return err
			}
			var call struct {
				ID     int      `json:"id"`
				Params [2]int64 `json:"params"`
			}
			if err := json.Unmarshal(data, &call); err != nil {
				return err
			}
			sum := call.Params[0] + call.Params[1]
			answers := []string{fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"result":%d}`, call.ID, sum)}
			switch call.ID {
			case 3:
				answers = []string{fmt.Sprintf(`{"jsonrpc":"2.0","id":3,"result":%d}`, sum+1)}
			case 5:
				answers = []string{`{"jsonrpc":"2.0","id":5,"error":{"code":-32000,"message":"no"}}`}
			case 7:
				answers = append(answers, `{"jsonrpc":"2.0","id":99,"result":1}`)
			case 9:
				answers = nil
			}
			if call.ID%2 == 1 {
				held = answers
				continue
			}
			for _, a := range append(answers, held...) {
				if err := c.Send(ctx, protocol.Text, []byte(a)); err != nil {
					return err
				}
			}
			held = nil
		}
	})
	got := only(t, wsload(t, 1, "-mode", "rpc", "-conns", "3", "-messages", "12", "-window", "4", "-timeout", "2s", "-protocols", "jsonrpc", url))
	// Each connection: 3, 5 and the answer with id 99 corrupted, 9 lost,
	// the other 9 calls answered; the connection counts as failed.
	want := Report{Phase: "rpc", Mode: "rpc", Conns: 3, Connected: 3, Messages: 27, Corrupted: 9, Lost: 3, ConnErrors: 3}
	if diff := cmp.Diff(want, got, ignoreVarying); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
}
