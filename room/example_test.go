package room_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/service"
)

// A hub's rooms broadcast what their members say to everyone in them.
func ExampleHub() {
	hub, err := room.NewHub(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	joined := make(chan struct{}, 2)
	ep := &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		nick := c.Request().URL.Query().Get("nick")
		m, err := hub.Join(ctx, "lobby", c, map[string]string{"nick": nick})
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

	_ = ann.Send(ctx, protocol.Text, []byte("hello"))
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

// A client that comes back with the position of the last message it saw
// gets the messages it missed, then the live ones.
func ExampleRoom_Resume() {
	r, err := room.New("news", &room.Options{History: &room.History{
		Size: 100,
		// Each message carries its position, for the client to keep.
		Encode: func(pos room.Position, _ room.MemberInfo, typ protocol.MessageType, data []byte) (protocol.MessageType, []byte) {
			return typ, fmt.Appendf(nil, "%d %s", pos.Offset, data)
		},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ep := &service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		pos, err := room.ParsePosition(c.Request().URL.Query().Get("since"))
		if err != nil {
			return err
		}
		m, err := r.Resume(ctx, c, nil, pos)
		if err != nil {
			return &service.CloseError{Code: 4000, Reason: err.Error()}
		}
		defer m.Leave()
		_, _, err = c.Recv(ctx)
		return err
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

	for _, s := range []string{"one", "two", "three"} {
		_ = r.Broadcast(protocol.Text, []byte(s))
	}
	// The client saw message 1 before it lost its connection.
	since := room.Position{Epoch: r.Position().Epoch, Offset: 1}
	c, _, err := service.Dial(ctx, "ws://"+l.Addr().String()+"/?since="+since.String(), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 2 {
		_, msg, _ := c.Recv(ctx)
		fmt.Println(string(msg))
	}
	_ = r.Broadcast(protocol.Text, []byte("four"))
	_, msg, _ := c.Recv(ctx)
	fmt.Println(string(msg))

	// A position the room no longer has, or never had, is refused.
	c2, _, _ := service.Dial(ctx, "ws://"+l.Addr().String()+"/?since=otherepoch:2", nil)
	_, _, err = c2.Recv(ctx)
	code, reason := service.CloseStatus(err)
	// (The room's epoch is random: shown here as EPOCH.)
	fmt.Println(int(code), strings.ReplaceAll(reason, r.Position().Epoch, "EPOCH"))
	_ = c.Close(protocol.CloseNormal, "")
	// Output:
	// 2 two
	// 3 three
	// 4 four
	// 4000 room "news": position otherepoch:2 cannot be recovered: another epoch (the room is at EPOCH:4)
}
