package service_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// wsURL turns an httptest server's URL into a ws:// URL.
func wsURL(srv *httptest.Server) string { return "ws" + strings.TrimPrefix(srv.URL, "http") }

// connect serves h on a test server and dials it, for the examples about
// the server's side; the context bounds the example, and stop closes the
// connection and the server.
func connect(h http.Handler) (context.Context, *service.Conn, func()) {
	srv := httptest.NewServer(h)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	c, _, err := service.Dial(ctx, wsURL(srv), nil)
	if err != nil {
		panic(err)
	}
	return ctx, c, func() {
		_ = c.Close(protocol.CloseNormal, "")
		cancel()
		srv.Close()
	}
}

// Accept upgrades one request, with the subprotocol chosen by the caller.
func ExampleAccept() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		offer, err := protocol.OfferFromHeader(r.Header)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		proto, _ := protocol.Select(offer, []string{"greet.v1"}, protocol.ClientOrder)
		c, err := service.Accept(w, r, &service.AcceptOptions{Subprotocol: proto})
		if err != nil {
			return // Accept has answered the client
		}
		_ = c.Send(c.Context(), protocol.Text, []byte("hello over "+c.Subprotocol()))
		_ = c.Close(protocol.CloseNormal, "bye")
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := service.Dial(ctx, wsURL(srv), &service.DialOptions{Subprotocols: []string{"greet.v1"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, msg, _ := c.Recv(ctx)
	fmt.Println(string(msg))
	_, _, err = c.Recv(ctx)
	code, reason := service.CloseStatus(err)
	fmt.Printf("closed: %v %q\n", code, reason)
	// Output:
	// hello over greet.v1
	// closed: 1000 (normal closure) "bye"
}

// Dial connects a client; the connection has the same API as a server's.
func ExampleDial() {
	srv := httptest.NewServer(&service.Endpoint{
		Protocols: []string{"echo"},
		Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
			typ, data, err := c.Recv(ctx)
			if err != nil {
				return err
			}
			return c.Send(ctx, typ, data)
		}),
	})
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := service.Dial(ctx, wsURL(srv), &service.DialOptions{Subprotocols: []string{"echo"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(protocol.CloseNormal, "")
	fmt.Println(resp.StatusCode, c.Subprotocol())
	_ = c.Send(ctx, protocol.Text, []byte("ping"))
	typ, data, _ := c.Recv(ctx)
	fmt.Println(typ, string(data))
	// Output:
	// 101 echo
	// text ping
}

// A handler is sequential code: receive, send, and return to close.
func ExampleConn_Recv() {
	ctx, c, stop := connect(&service.Endpoint{
		Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
			total := 0
			for {
				_, data, err := c.Recv(ctx)
				if err != nil {
					return err // the client closed
				}
				total += len(data)
				if err := c.Send(ctx, protocol.Text, []byte(fmt.Sprintf("%d bytes so far", total))); err != nil {
					return err
				}
			}
		}),
	})
	defer stop()
	for _, m := range []string{"abc", "de"} {
		_ = c.Send(ctx, protocol.Text, []byte(m))
		_, reply, _ := c.Recv(ctx)
		fmt.Println(string(reply))
	}
	// Output:
	// 3 bytes so far
	// 5 bytes so far
}

// RecvInto reuses one buffer for every message, so that a handler
// receiving large messages does not allocate one per message.
func ExampleConn_RecvInto() {
	ctx, c, stop := connect(&service.Endpoint{
		Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
			buf := make([]byte, 0, 64<<10)
			for {
				typ, data, err := c.RecvInto(ctx, buf)
				if err != nil {
					return err
				}
				if err := c.Send(ctx, typ, bytes.ToUpper(data)); err != nil {
					return err
				}
				buf = data // keep the larger buffer if the message needed one
			}
		}),
	})
	defer stop()
	for _, m := range []string{"abc", "hello"} {
		_ = c.Send(ctx, protocol.Text, []byte(m))
		_, reply, _ := c.Recv(ctx)
		fmt.Println(string(reply))
	}
	// Output:
	// ABC
	// HELLO
}

// Send is safe from many goroutines at once; each message arrives whole.
func ExampleConn_Send() {
	ctx, c, stop := connect(&service.Endpoint{
		Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
			done := make(chan struct{})
			for i := range 3 {
				go func() {
					_ = c.Send(ctx, protocol.Text, []byte(fmt.Sprint("worker ", i)))
					done <- struct{}{}
				}()
			}
			for range 3 {
				<-done
			}
			return nil
		}),
	})
	defer stop()
	seen := map[string]bool{}
	for range 3 {
		_, data, err := c.Recv(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		seen[string(data)] = true
	}
	fmt.Println(len(seen), "workers heard")
	// Output:
	// 3 workers heard
}

// A handler's return value becomes the close code the peer sees.
func ExampleCloseStatus() {
	ctx, c, stop := connect(&service.Endpoint{
		Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
			return &service.CloseError{Code: protocol.ClosePolicyViolation, Reason: "no anonymous users"}
		}),
	})
	defer stop()
	_, _, err := c.Recv(ctx)
	code, reason := service.CloseStatus(err)
	fmt.Println(code)
	fmt.Println(reason)
	// Output:
	// 1008 (policy violation)
	// no anonymous users
}

// Events builds a handler from callbacks.
func ExampleEvents() {
	closed := make(chan string, 1)
	ctx, c, stop := connect(&service.Endpoint{
		Handler: &service.Events{
			OnMessage: func(ctx context.Context, c *service.Conn, typ protocol.MessageType, data []byte) error {
				return c.Send(ctx, protocol.Text, []byte(strings.ToUpper(string(data))))
			},
			OnClose: func(c *service.Conn, code protocol.CloseCode, reason string) {
				closed <- fmt.Sprintf("closed with %v %q", code, reason)
			},
		},
	})
	defer stop()
	_ = c.Send(ctx, protocol.Text, []byte("quiet"))
	_, msg, _ := c.Recv(ctx)
	fmt.Println(string(msg))
	_ = c.Close(protocol.CloseGoingAway, "page closed")
	fmt.Println(<-closed)
	// Output:
	// QUIET
	// closed with 1001 (going away) "page closed"
}

// Upgrade upgrades and starts the handler in one call; a router that
// picks its handler per request uses it as the mux does.
func ExampleUpgrade() {
	echo := service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		typ, msg, err := c.Recv(ctx)
		if err != nil {
			return err
		}
		return c.Send(ctx, typ, msg)
	})
	ctx, c, stop := connect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := service.Upgrade(w, r, nil, echo); err != nil {
			log.Print(err) // refused; the client has its answer already
		}
	}))
	defer stop()
	_ = c.Send(ctx, protocol.Text, []byte("hello"))
	_, msg, _ := c.Recv(ctx)
	fmt.Println(string(msg))
	_, _, err := c.Recv(ctx) // the handler has returned: the server closes
	code, _ := service.CloseStatus(err)
	fmt.Println("closed:", code)
	// Output:
	// hello
	// closed: 1000 (normal closure)
}

// Track lets handshake middleware follow a connection past ServeHTTP's
// return: here, a count of the connections open at once.
func ExampleTrack() {
	var open atomic.Int64
	count := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			open.Add(1)
			release := func() { open.Add(-1) }
			r, lt := service.Track(r, release)
			next.ServeHTTP(w, r)
			if !lt.Upgraded() {
				release()
			}
		})
	}
	_, c, stop := connect(count(&service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		_, _, err := c.Recv(ctx)
		return err
	})}))
	defer stop()
	fmt.Println("open while connected:", open.Load())
	_ = c.Close(protocol.CloseNormal, "")
	// The server's side ends just after the client's close returns.
	for i := 0; i < 500 && open.Load() != 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("open after the close:", open.Load())
	// Output:
	// open while connected: 1
	// open after the close: 0
}

// A Redialer comes back by itself when its connection drops: here the
// server closes each connection with 1012 (service restart) after one
// message, and the client goes on receiving, saying hello again on each
// new connection.
func ExampleRedial() {
	var conns atomic.Int32
	srv := httptest.NewServer(&service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		_, hello, err := c.Recv(ctx)
		if err != nil {
			return err
		}
		n := conns.Add(1)
		if err := c.Send(ctx, protocol.Text, []byte(fmt.Sprintf("connection %d: got %q", n, hello))); err != nil {
			return err
		}
		return &service.CloseError{Code: protocol.CloseServiceRestart, Reason: "restarting"}
	})})
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := service.Redial(ctx, wsURL(srv), &service.RedialOptions{
		MinBackoff: 10 * time.Millisecond,
		OnConnect: func(ctx context.Context, c *service.Conn) error {
			return c.Send(ctx, protocol.Text, []byte("hello"))
		},
	})
	defer r.Close()
	for range 3 {
		_, msg, err := r.Recv(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(string(msg))
	}
	// Output:
	// connection 1: got "hello"
	// connection 2: got "hello"
	// connection 3: got "hello"
}
