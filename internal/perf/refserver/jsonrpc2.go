package main

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/gorilla/websocket"
	"github.com/sourcegraph/jsonrpc2"
	jsonrpc2ws "github.com/sourcegraph/jsonrpc2/websocket"
)

var rpcUpgrader = websocket.Upgrader{Subprotocols: []string{"jsonrpc"}}

// jsonrpc2Server serves JSON-RPC 2.0 calls of "add" and "echo" with
// github.com/sourcegraph/jsonrpc2 over gorilla/websocket, as its
// documentation shows: a jsonrpc2.Conn over websocket.NewObjectStream,
// each call handled on a goroutine of its own (jsonrpc2.AsyncHandler), or
// with inline set one after another on the connection's reading
// goroutine (the Handler as it is).
func jsonrpc2Server(inline bool) http.Handler {
	var h jsonrpc2.Handler = jsonrpc2.HandlerWithError(rpcMethods)
	if !inline {
		h = jsonrpc2.AsyncHandler(h)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := rpcUpgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		conn := jsonrpc2.NewConn(r.Context(), jsonrpc2ws.NewObjectStream(c), h)
		<-conn.DisconnectNotify()
	})
}

// rpcMethods is "add" (two integers, their sum) and "echo" (the
// parameters back, as they came).
func rpcMethods(_ context.Context, _ *jsonrpc2.Conn, req *jsonrpc2.Request) (any, error) {
	switch req.Method {
	case "add":
		var p [2]int64
		if req.Params == nil {
			return nil, &jsonrpc2.Error{Code: jsonrpc2.CodeInvalidParams, Message: "Invalid params"}
		}
		if err := json.Unmarshal(*req.Params, &p); err != nil {
			return nil, &jsonrpc2.Error{Code: jsonrpc2.CodeInvalidParams, Message: err.Error()}
		}
		return p[0] + p[1], nil
	case "echo":
		return req.Params, nil
	}
	return nil, &jsonrpc2.Error{Code: jsonrpc2.CodeMethodNotFound, Message: "Method not found"}
}
