package natstransport_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/room/natstransport"
	"github.com/wsmap/wsmap/service"
)

// Two wsmap servers share the room "lobby" over NATS: each lists the
// members of both, and a message sent by a member of one reaches the
// member of the other.
func ExampleConnect() {
	// A NATS server for the example; in production, your NATS system.
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		log.Fatal(err)
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		log.Fatal("NATS did not start")
	}

	// A server: a Transport, a Hub that uses it, and a handler that joins
	// the lobby and broadcasts what its member says to the others.
	chat := func(hub *room.Hub) service.HandlerFunc {
		return func(ctx context.Context, c *service.Conn) error {
			m, err := hub.Join(ctx, "lobby", c, map[string]string{"nick": c.Request().URL.Query().Get("nick")})
			if err != nil {
				return err
			}
			defer m.Leave()
			for {
				typ, data, err := c.Recv(ctx)
				if err != nil {
					return err
				}
				if err := m.Room().BroadcastFrom(m, typ, data); err != nil {
					return err
				}
			}
		}
	}
	var hubs []*room.Hub
	var urls []string
	for range 2 {
		tr, err := natstransport.Connect(ns.ClientURL(), nil)
		if err != nil {
			log.Fatal(err)
		}
		defer tr.Close()
		hub, err := room.NewHub(&room.Options{Transport: tr})
		if err != nil {
			log.Fatal(err)
		}
		srv := httptest.NewServer(&service.Endpoint{Handler: chat(hub)})
		defer srv.Close()
		hubs = append(hubs, hub)
		urls = append(urls, "ws"+strings.TrimPrefix(srv.URL, "http"))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ann, _, err := service.Dial(ctx, urls[0]+"/?nick=ann", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ann.Close(1000, "")
	bob, _, err := service.Dial(ctx, urls[1]+"/?nick=bob", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer bob.Close(1000, "")

	// Presence reaches the first server.
	for hubs[0].Room("lobby") == nil || len(hubs[0].Room("lobby").Members()) < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	for _, m := range hubs[0].Room("lobby").Members() {
		fmt.Println("in the lobby:", m.Meta["nick"])
	}

	if err := ann.Send(ctx, protocol.Text, []byte("hi bob")); err != nil {
		log.Fatal(err)
	}
	_, data, err := bob.Recv(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("bob got %q\n", data)
	// Unordered output:
	// in the lobby: ann
	// in the lobby: bob
	// bob got "hi bob"
}
