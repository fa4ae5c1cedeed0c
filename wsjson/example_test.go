package wsjson_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/wsmap/wsmap/service"
	"github.com/wsmap/wsmap/wsjson"
)

// A handler that answers each JSON request with a JSON reply.
func Example() {
	type request struct{ A, B int }
	type reply struct{ Sum int }
	srv := httptest.NewServer(&service.Endpoint{
		Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
			for {
				var req request
				if err := wsjson.Recv(ctx, c, &req); err != nil {
					return err
				}
				if err := wsjson.Send(ctx, c, reply{Sum: req.A + req.B}); err != nil {
					return err
				}
			}
		}),
	})
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := service.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(1000, "")
	_ = wsjson.Send(ctx, c, request{A: 2, B: 40})
	var r reply
	if err := wsjson.Recv(ctx, c, &r); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Sum)
	// Output:
	// 42
}
