package wsmaptest

import (
	"context"
	"time"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// ExpectClose receives on c, discarding messages, until the connection
// closes, and fails the test unless it closed with code; it returns the
// close's reason. It gives up after 10 seconds (of the bubble's clock,
// inside testing/synctest).
func ExpectClose(t TB, c *service.Conn, code protocol.CloseCode) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, _, err := c.Recv(ctx)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			t.Fatalf("wsmaptest: no close within 10s, want %v", code)
		}
		got, reason := service.CloseStatus(err)
		if got != code {
			t.Errorf("wsmaptest: closed with %v %q (%v), want %v", got, reason, err, code)
		}
		return reason
	}
}
