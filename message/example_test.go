package message_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/message/jsonrpc"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// A JSON-RPC service and a client of it: each end is a Peer, and either
// may call the other.
func Example() {
	r := &message.Router{}
	r.Handle("add", message.Func(func(_ context.Context, p [2]int) (int, error) {
		return p[0] + p[1], nil
	}))
	srv := httptest.NewServer(&service.Endpoint{
		Protocols: []string{"jsonrpc"},
		Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
			return message.New(c, jsonrpc.Codec{}, r, nil).Serve(ctx)
		}),
	})
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := service.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &service.DialOptions{Subprotocols: []string{"jsonrpc"}})
	if err != nil {
		panic(err)
	}
	client := message.New(c, jsonrpc.Codec{}, nil, nil)
	served := make(chan error, 1)
	go func() { served <- client.Serve(ctx) }()

	var sum int
	if err := client.Call(ctx, "add", [2]int{2, 3}, &sum); err != nil {
		panic(err)
	}
	fmt.Println("add:", sum)
	err = client.Call(ctx, "subtract", [2]int{2, 3}, nil)
	fmt.Println("subtract:", err)

	_ = c.Close(protocol.CloseNormal, "")
	<-served
	// Output:
	// add: 5
	// subtract: message: error -32601: Method not found
}
