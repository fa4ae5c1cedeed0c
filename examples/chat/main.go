// Command chat is a chat server: the page at / joins a room over a
// WebSocket, gets a random nickname, and sees what everyone in the room
// says, who joins and who leaves.
//
//	GET /                  the chat page (?room=NAME picks a room)
//	/chat                  WebSocket: the room "lobby"
//	/chat/NAME             WebSocket: the room NAME (a-z, 0-9 and -)
//
// Each text message a client sends reaches everyone in its room as
// "user-N: message"; joins and departures are announced as
// "user-N has joined." and "user-N has left.". A new member is first told
// "you are user-N in ROOM.". The message "/who" is answered, to its
// sender alone, with "in ROOM: user-N, user-M, ..." (every member,
// sorted, wherever connected).
//
// Usage:
//
//	chat [-addr 127.0.0.1:8080] [-nats nats://127.0.0.1:4222]
//
// With -nats, rooms are shared with every chat server connected to the
// same NATS servers (a comma-separated list): members of a room may be
// connected to any of them, behind any load balancer, and everyone
// hears everyone. Without it, rooms live in this process alone.
//
// It prints "listening on HOST:PORT", then the URL to open, and serves
// until interrupted (SIGINT or SIGTERM), then closes every connection with
// 1001 (going away) and exits. Connections are logged to standard error.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/wsmap/wsmap/middleware"
	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
	"github.com/wsmap/wsmap/room/natstransport"
	"github.com/wsmap/wsmap/service"
)

//go:embed page.html
var page []byte

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on; port 0 picks a free port")
	natsURL := flag.String("nats", "", "share rooms with other chat servers over the NATS servers at this URL (comma-separated); none: rooms stay in this process")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *natsURL, os.Stdout, os.Stderr); err != nil {
		log.Fatal(err)
	}
}

// newHandler serves the page and the rooms of hub.
func newHandler(hub *room.Hub, logger *slog.Logger) http.Handler {
	m := &mux.Mux{Options: &service.Options{ReadLimit: 4 << 10}}
	m.UseConn(middleware.Log(logger), middleware.MessageRate(&middleware.MessageRateOptions{Rate: 20, Burst: 40}))
	m.Handle(`/chat(?:/(?P<room>[a-z0-9-]{1,32}))?`, chat(hub))

	sm := http.NewServeMux()
	sm.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
		_, _ = w.Write(page)
	})
	sm.Handle("/", m)
	return sm
}

// chat serves one member of a room.
func chat(hub *room.Hub) service.HandlerFunc {
	return func(ctx context.Context, c *service.Conn) error {
		name := c.Param("room")
		if name == "" {
			name = "lobby"
		}
		nick := fmt.Sprintf("user-%d", 1000+rand.IntN(9000))
		m, err := hub.Join(name, c, map[string]string{"nick": nick})
		if err != nil {
			return err
		}
		r := m.Room()
		defer func() {
			m.Leave()
			_ = r.Broadcast(protocol.Text, []byte(nick+" has left."))
		}()
		// A broadcast that could not reach the other servers (NATS is
		// down and its buffer full) still reached this one's members:
		// the sender is told, and goes on.
		broadcast := func(msg []byte) error {
			err := r.Broadcast(protocol.Text, msg)
			if err == nil || errors.Is(err, room.ErrRoomClosed) {
				return err
			}
			return m.Send(protocol.Text, []byte("(not delivered to other servers: "+err.Error()+")"))
		}
		if err := m.Send(protocol.Text, []byte("you are "+nick+" in "+name+".")); err != nil {
			return err
		}
		if err := broadcast([]byte(nick + " has joined.")); err != nil {
			return err
		}
		for {
			typ, data, err := c.Recv(ctx)
			if err != nil {
				return err
			}
			if typ != protocol.Text {
				return &service.CloseError{Code: protocol.CloseUnsupportedData, Reason: "text messages only"}
			}
			if len(data) == 0 {
				continue
			}
			if string(data) == "/who" {
				if err := m.Send(protocol.Text, []byte(who(r))); err != nil {
					return err
				}
				continue
			}
			if err := broadcast(append([]byte(nick+": "), data...)); err != nil {
				return err
			}
		}
	}
}

// who describes the room's presence: "in ROOM: nick, nick, ...".
func who(r *room.Room) string {
	var nicks []string
	for _, m := range r.Members() {
		nicks = append(nicks, m.Meta["nick"])
	}
	slices.Sort(nicks)
	return "in " + r.Name() + ": " + strings.Join(nicks, ", ")
}

// run serves until ctx ends, then shuts down gracefully. With natsURL,
// rooms are carried over NATS.
func run(ctx context.Context, addr, natsURL string, stdout, logw io.Writer) error {
	logger := slog.New(slog.NewTextHandler(logw, nil))
	var opts room.Options
	if natsURL != "" {
		tr, err := natstransport.Connect(natsURL, &natstransport.Options{
			OnError: func(err error) { logger.Warn("rooms", "err", err) },
		})
		if err != nil {
			return err
		}
		defer tr.Close()
		opts.Transport = tr
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &service.Server{Handler: newHandler(room.NewHub(&opts), logger)}
	fmt.Fprintf(stdout, "listening on %s\n", l.Addr())
	fmt.Fprintf(stdout, "open http://%s/ in a browser\n", l.Addr())
	return srv.ServeUntil(ctx, l, 10*time.Second)
}
