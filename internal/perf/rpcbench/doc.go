// Package rpcbench measures JSON-RPC 2.0 calls in process: wsmap's
// message layer (a message.Peer with jsonrpc.Codec serving a
// message.Router behind a mux route, as internal/perf/wsmapserver's /rpc
// does) beside github.com/sourcegraph/jsonrpc2 over gorilla/websocket
// (as internal/perf/refserver -impl jsonrpc2 and jsonrpc2-inline do), on
// loopback sockets, with the same client for both in a child process.
// Its code is its tests: BenchmarkCall, and TestServers, which runs the
// servers small. The benchmark's servers are best run in turn, round
// after round, so that each round's ratios compare runs close in time:
//
//	go test -c -o /tmp/rpcbench.test ./internal/perf/rpcbench
//	for i in 1 2 3 4 5; do /tmp/rpcbench.test -test.run XXX -test.bench Call/ -test.benchtime 2s; done > call.txt
//	go run ./internal/benchratio -ref jsonrpc2 -metric cpu-ns/call < call.txt
//
// internal/perf/compare's rpc scenario measures the same servers in
// processes of their own.
package rpcbench
