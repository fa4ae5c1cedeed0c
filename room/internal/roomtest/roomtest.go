// Package roomtest holds what the tests of room and of its transports
// share: the connection handler they serve to their members, and a hub
// made for a test.
package roomtest

import (
	"context"
	"net/http"
	"testing"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/service"
)

// Member is a handler that joins the hub's room named by the "room"
// query parameter (default "r"), with the "nick" parameter as metadata,
// and broadcasts every message it receives until the client leaves: to
// the whole room, itself included, when toSelf is set, else to the
// others. A failed broadcast is told to the sender as "error: ...".
func Member(hub *room.Hub, toSelf bool) http.Handler {
	return &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		q := c.Request().URL.Query()
		name := q.Get("room")
		if name == "" {
			name = "r"
		}
		m, err := hub.Join(ctx, name, c, map[string]string{"nick": q.Get("nick")})
		if err != nil {
			return err
		}
		defer m.Leave()
		for {
			typ, data, err := c.Recv(ctx)
			if err != nil {
				return err
			}
			if toSelf {
				err = m.Room().Broadcast(typ, data)
			} else {
				err = m.Room().BroadcastFrom(m, typ, data)
			}
			if err != nil {
				if err := m.Send(protocol.Text, []byte("error: "+err.Error())); err != nil {
					return err
				}
			}
		}
	})}
}

// NewHub returns room.NewHub(opts), failing the test on an error.
func NewHub(tb testing.TB, opts *room.Options) *room.Hub {
	tb.Helper()
	hub, err := room.NewHub(opts)
	if err != nil {
		tb.Fatal(err)
	}
	return hub
}
