package wsmaptest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
	"github.com/wsmap/wsmap/wsmaptest"
)

// demo stands for the *testing.T of a test in these examples: it runs
// the cleanups the kit registers when the example ends.
type demo struct{ cleanups []func() }

func (d *demo) Helper()                           {}
func (d *demo) Cleanup(f func())                  { d.cleanups = append(d.cleanups, f) }
func (d *demo) Errorf(format string, args ...any) { fmt.Printf(format+"\n", args...) }
func (d *demo) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func (d *demo) done() {
	for i := len(d.cleanups) - 1; i >= 0; i-- {
		d.cleanups[i]()
	}
}

// A handler under test gets a real connection; the test talks to it with
// the other end.
func ExampleConnect() {
	shout := service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		_, data, err := c.Recv(ctx)
		if err != nil {
			return err
		}
		return c.Send(ctx, protocol.Text, []byte(string(data)+"!"))
	})
	t := new(demo)
	defer t.done()
	c := wsmaptest.Connect(t, shout, nil)
	ctx := context.Background()
	_ = c.Send(ctx, protocol.Text, []byte("hello"))
	_, reply, _ := c.Recv(ctx)
	fmt.Println(string(reply))
	// Output: hello!
}

// A refused handshake tells its status and the server's reason.
func ExampleServer_Dial() {
	t := new(demo)
	defer t.done()
	m, _ := mux.New(mux.Route{Pattern: `/calc`, Protocols: []mux.Protocol{{Name: "calc.v2", Handler: echo}}})
	s := wsmaptest.NewServer(t, m)
	_, err := s.Dial(context.Background(), "/calc", &service.DialOptions{Subprotocols: []string{"calc.v1"}})
	if he, ok := wsmaptest.Refusal(err); ok {
		fmt.Println(he.Status, he.Reason)
	}
	// Output: 400 no offered subprotocol is supported; supported: calc.v2
}

// Any client reaches a Server through its DialOptions: here one that
// comes back by itself, sending what was held while it connected.
func ExampleServer_DialOptions() {
	t := new(demo)
	defer t.done()
	s := wsmaptest.NewServer(t, &service.Endpoint{Handler: echo})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := service.Redial(ctx, s.URL+"/", &service.RedialOptions{Dial: s.DialOptions(), SendBuffer: 1})
	defer r.Close()
	_ = r.Send(ctx, protocol.Text, []byte("hello"))
	_, reply, err := r.Recv(ctx)
	fmt.Println(string(reply), err)
	// Output: ||hello <nil>
}

// Probe tells which route and subprotocol a handshake gets, without a
// network.
func ExampleProbe() {
	m, _ := mux.New(
		mux.Route{Pattern: `/calc`, Protocols: []mux.Protocol{{Name: "calc.v2", Handler: echo}, {Name: "calc.v1", Handler: echo}}},
		mux.Route{Pattern: `/rooms/(?P<room>[a-z]+)`, NoProtocol: echo},
	)
	for _, r := range []struct {
		target string
		offer  []string
	}{{"/calc", []string{"calc.v1", "calc.v2"}}, {"/rooms/lobby", nil}, {"/rooms/42", nil}} {
		p := wsmaptest.Probe(m, wsmaptest.UpgradeRequest(r.target, r.offer...))
		fmt.Printf("%s: %d %q %q %q\n", r.target, p.Status, p.Route, p.Protocol, p.Reason)
	}
	// Output:
	// /calc: 101 "/calc" "calc.v1" ""
	// /rooms/lobby: 101 "/rooms/(?P<room>[a-z]+)" "" ""
	// /rooms/42: 404 "" "" "no WebSocket service at \"/rooms/42\""
}
