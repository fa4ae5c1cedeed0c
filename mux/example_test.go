package mux_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// echo answers every message with the subprotocol and the message.
var echo = service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
	for {
		typ, data, err := c.Recv(ctx)
		if err != nil {
			return err
		}
		reply := fmt.Sprintf("%s %s: %s", c.Subprotocol(), c.Param("room"), data)
		if err := c.Send(ctx, typ, []byte(reply)); err != nil {
			return err
		}
	}
})

// A table of two routes: the first serves two versions of a protocol,
// the second a path parameter to clients that offer no protocol.
func ExampleNew() {
	m, err := mux.New(
		mux.Route{Pattern: `/echo`, Protocols: []mux.Protocol{{Name: "echo.v2", Handler: echo}, {Name: "echo.v1", Handler: echo}}},
		mux.Route{Pattern: `/chat/(?P<room>[a-z]+)`, NoProtocol: echo},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(m)
	defer srv.Close()
	base := "ws" + strings.TrimPrefix(srv.URL, "http")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, dial := range []struct {
		path  string
		offer []string
	}{{"/echo", []string{"echo.v1", "echo.v2"}}, {"/chat/lobby", nil}} {
		c, _, err := service.Dial(ctx, base+dial.path, &service.DialOptions{Subprotocols: dial.offer})
		if err != nil {
			fmt.Println(err)
			return
		}
		_ = c.Send(ctx, protocol.Text, []byte("hi"))
		_, reply, _ := c.Recv(ctx)
		fmt.Printf("%s: %q\n", dial.path, reply)
		_ = c.Close(1000, "")
	}
	// Output:
	// /echo: "echo.v1 : hi"
	// /chat/lobby: " lobby: hi"
}

// Mistakes in a table are errors when it is built, naming the route and
// what to write instead.
func ExampleRouteError() {
	_, err := mux.New(mux.Route{Pattern: `/calc/{session}`, NoProtocol: echo})
	var re *mux.RouteError
	fmt.Println(errors.As(err, &re), errors.Is(err, mux.ErrInvalidPattern))
	fmt.Println(err)
	// Output:
	// true true
	// mux: route "/calc/{session}" (table entry 0), offset 6: invalid pattern: "{session}" is a chi-style parameter, which a regular expression reads as literal text; write (?P<session>[^/]+)
}

// WriteRoutes prints the table in matching order.
func ExampleMux_WriteRoutes() {
	m, _ := mux.New(
		mux.Route{Pattern: `/echo`, Protocols: []mux.Protocol{{Name: "echo.v2", Handler: echo}}, NoProtocol: echo},
		mux.Route{Pattern: `/chat/(?P<room>[a-z]+)`, NoProtocol: echo},
	)
	_ = m.WriteRoutes(os.Stdout)
	// Output:
	// PATTERN                 SUBPROTOCOLS  POLICY        HTTP
	// /echo                   echo.v2 -     client order  no
	// /chat/(?P<room>[a-z]+)  -             client order  no
}
