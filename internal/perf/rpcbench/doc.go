// Package rpcbench measures JSON-RPC 2.0 calls in process: wsmap's
// message layer (a message.Peer with jsonrpc.Codec serving a
// message.Router behind a mux route, as internal/perf/wsmapserver's /rpc
// does) beside github.com/sourcegraph/jsonrpc2 over gorilla/websocket
// (as internal/perf/refserver -impl jsonrpc2 and jsonrpc2-inline do), on
// loopback sockets, with the same client for both in a child process.
// It holds only its benchmark:
//
//	go test -run XXX -bench Call -count 5 ./internal/perf/rpcbench | go run ./internal/benchratio -ref jsonrpc2
//
// internal/perf/compare's rpc scenario measures the same servers in
// processes of their own.
package rpcbench
