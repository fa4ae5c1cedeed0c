package room_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/service"
)

// A hub's rooms broadcast what their members say to everyone in them.
func ExampleHub() {
	hub := room.NewHub(nil)
	joined := make(chan struct{}, 2)
	ep := &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		nick := c.Request().URL.Query().Get("nick")
		m, err := hub.Join("lobby", c, map[string]string{"nick": nick})
		if err != nil {
			return err
		}
		defer m.Leave()
		joined <- struct{}{}
		for {
			_, data, err := c.Recv(ctx)
			if err != nil {
				return err
			}
			_ = m.Room().Broadcast(protocol.Text, append([]byte(nick+": "), data...))
		}
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &service.Server{Handler: ep}
	go func() { _ = srv.Serve(l) }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer srv.Shutdown(ctx)

	ann, _, _ := service.Dial(ctx, "ws://"+l.Addr().String()+"/?nick=ann", nil)
	bob, _, _ := service.Dial(ctx, "ws://"+l.Addr().String()+"/?nick=bob", nil)
	<-joined
	<-joined
	fmt.Println("members:", hub.Room("lobby").Len())

	_ = ann.SendText(ctx, "hello")
	_, msg, _ := bob.Recv(ctx)
	fmt.Println("bob got:", string(msg))
	_, msg, _ = ann.Recv(ctx)
	fmt.Println("ann got:", string(msg))
	_ = ann.Close(protocol.CloseNormal, "")
	_ = bob.Close(protocol.CloseNormal, "")
	// Output:
	// members: 2
	// bob got: ann: hello
	// ann got: ann: hello
}
