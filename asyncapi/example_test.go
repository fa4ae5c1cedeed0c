package asyncapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"

	"github.com/wsmap/wsmap/asyncapi"
	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/service"
)

func Example() {
	echo := service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		for {
			typ, data, err := c.Recv(ctx)
			if err != nil {
				return err
			}
			if err := c.Send(ctx, typ, data); err != nil {
				return err
			}
		}
	})
	text := json.RawMessage(`{"type": "string"}`)
	m := mux.MustNew(
		mux.Route{
			Pattern: `/echo/(?P<room>[a-z]+)`,
			Doc:     &mux.Doc{Title: "Echo", Summary: "Sends every message back."},
			Protocols: []mux.Protocol{{
				Name:    "echo",
				Handler: echo,
				Doc: &mux.Doc{Messages: []mux.MessageDoc{
					{Name: "text", From: mux.FromEither, ContentType: "text/plain", Payload: text},
				}},
			}},
		},
	)
	doc, err := asyncapi.New(&asyncapi.Options{Title: "Echo", Version: "1.0.0"}, asyncapi.Mount{Mux: m})
	if err != nil {
		log.Fatal(err)
	}
	for id, ch := range doc.Channels {
		fmt.Printf("channel %s: %s, room matching %s\n", id, *ch.Address, ch.Parameters["room"].Pattern)
	}
	for _, id := range slices.Sorted(maps.Keys(doc.Operations)) {
		fmt.Printf("operation %s: %s %s\n", id, doc.Operations[id].Action, doc.Operations[id].Messages[0].Ref)
	}
	// Output:
	// channel echo_room: /echo/{room}, room matching [a-z]+
	// operation echo_room_echo_text_receive: receive #/channels/echo_room/messages/echo_text
	// operation echo_room_echo_text_send: send #/channels/echo_room/messages/echo_text
}

func ExampleHandler() {
	m := mux.MustNew(mux.Route{Pattern: `/chat/(?P<room>[a-z]+)`, NoProtocol: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		return nil
	})})
	srv := httptest.NewServer(asyncapi.Handler(nil, asyncapi.Mount{Prefix: "/ws", Mux: m}))
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var doc asyncapi.Document
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Header.Get("Content-Type"))
	fmt.Println(doc.AsyncAPI, *doc.Channels["ws_chat_room"].Address)
	// Output:
	// application/json
	// 3.0.0 /ws/chat/{room}
}
