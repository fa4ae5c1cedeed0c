package message_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/message/internal/msgtest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
	"github.com/wsmap/wsmap/wsmaptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// peers returns a Peer on each end of an in-memory connection, the server
// one serving server and the client one client, both serving until the
// test ends.
func peers(t *testing.T, codec message.Codec, server, client message.Handler, so, co *message.Options) (*message.Peer, *message.Peer) {
	t.Helper()
	sc, cc := wsmaptest.Pair(t, nil)
	sp, cp := message.New(sc, codec, server, so), message.New(cc, codec, client, co)
	msgtest.Serve(t, sp)
	msgtest.Serve(t, cp)
	return sp, cp
}

// rawPeer is a connection the test writes and reads frames on by hand,
// facing a Peer that serves h on the other end.
func rawPeer(t *testing.T, codec message.Codec, h message.Handler, opts *message.Options) (*service.Conn, *message.Peer) {
	t.Helper()
	sc, cc := wsmaptest.Pair(t, nil)
	p := message.New(sc, codec, h, opts)
	msgtest.Serve(t, p)
	return cc, p
}

// send writes a text frame.
func send(t *testing.T, c *service.Conn, frame string) {
	t.Helper()
	if err := c.Send(context.Background(), protocol.Text, []byte(frame)); err != nil {
		t.Fatalf("send %s: %v", frame, err)
	}
}

// nothing checks that no frame arrives within d.
func nothing(t *testing.T, c *service.Conn, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if _, data, err := c.Recv(ctx); err == nil {
		t.Fatalf("received %s, want nothing", data)
	}
}
