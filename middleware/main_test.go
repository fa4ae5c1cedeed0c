package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wsmap/wsmap/internal/servetest"
	"github.com/wsmap/wsmap/middleware"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve starts h on loopback for the test; see servetest.Serve.
func serve(t testing.TB, h http.Handler) string { return servetest.Serve(t, h) }

// commands is the handler the tests serve: it echoes every message, and
// answers a few commands about itself.
var commands = service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
	for {
		typ, data, err := c.Recv(ctx)
		if err != nil {
			return err
		}
		reply := data
		switch string(data) {
		case "whoami":
			id, ok := middleware.Identity(ctx)
			reply = fmt.Appendf(nil, "%v %v", id, ok)
		case "reqid":
			reply = []byte(middleware.RequestIDFrom(ctx))
		case "offer":
			reply = []byte(strings.Join(c.Request().Header.Values(protocol.HeaderProtocol), "|"))
		case "panic":
			panic("handler panics on purpose")
		case "fail":
			return errors.New("boom")
		case "close":
			return &service.CloseError{Code: 4000, Reason: "done"}
		}
		if err := c.Send(ctx, typ, reply); err != nil {
			return err
		}
	}
})

type dialResult struct {
	conn   *service.Conn
	status int    // 101 or the refusal's
	body   string // the refusal's reason
	header http.Header
}

// dial opens a connection to url, with the given header and offer. The
// connection, if any, is closed at the end of the test.
func dial(t *testing.T, url string, header http.Header, offer ...string) dialResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := service.Dial(ctx, url, &service.DialOptions{Header: header, Subprotocols: offer})
	var res dialResult
	if err != nil {
		var he *service.HandshakeError
		if !errors.As(err, &he) {
			t.Fatalf("Dial(%s): %v", url, err)
		}
		res.status, res.body, res.header = he.Status, he.Reason, he.Header
		return res
	}
	res.status, res.header = resp.StatusCode, resp.Header
	t.Cleanup(func() { _ = c.Close(protocol.CloseNormal, "") })
	res.conn = c
	return res
}

// ask sends msg on c and returns the reply.
func ask(t *testing.T, c *service.Conn, msg string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Send(ctx, protocol.Text, []byte(msg)); err != nil {
		t.Fatalf("send %q: %v", msg, err)
	}
	_, data, err := c.Recv(ctx)
	if err != nil {
		t.Fatalf("reply to %q: %v", msg, err)
	}
	return string(data)
}

// recvClose waits for the connection to end and returns its close.
func recvClose(t *testing.T, c *service.Conn) (protocol.CloseCode, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, _, err := c.Recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatal("no close within 5s")
			}
			return service.CloseStatus(err)
		}
	}
}
