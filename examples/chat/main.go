// Command chat is a chat server: the page at / joins a room over a
// WebSocket, gets a random nickname, and sees what everyone in the room
// says, who joins and who leaves. When its connection drops, the page
// reconnects by itself and shows the messages it missed meanwhile.
//
//	GET /                  the chat page (?room=NAME picks a room)
//	/chat                  WebSocket: the room "lobby"
//	/chat/NAME             WebSocket: the room NAME (a-z, 0-9 and -)
//
// A client sends what its user says as text messages. The server sends
// JSON objects, each with a "kind" and the "text" to show:
//
//	{"kind":"hello","text":"you are user-N in ROOM.","nick":"user-N","resumed":false}
//	{"kind":"chat","text":"user-N: message","pos":"EPOCH:OFFSET"}
//	{"kind":"notice","text":"user-N has joined.","pos":"EPOCH:OFFSET"}
//	{"kind":"who","text":"in ROOM: user-N, user-M, ..."}
//
// "hello" comes first, to the member alone. What is said in the room,
// and who joins, leaves or comes back, reaches everyone in it with its
// position in the room's history ("pos"). "/who" is answered, to its
// sender alone, with every member, sorted, wherever connected.
//
// A client that lost its connection dials again with the position of the
// last message it received and its nickname in the query,
// /chat/NAME?since=EPOCH:OFFSET&nick=user-N: it first receives the
// messages it missed, then "hello" with "resumed":true, then the live
// ones; the others hear that user-N is back. If they can no longer be
// recovered (the room's history keeps the
// last 1,000 messages of the last hour, and a server that restarted
// without -nats has forgotten them), it joins afresh and "hello" says
// why in "lost". Nicknames are not authenticated: a client that claims
// one gets it.
//
// Usage:
//
//	chat [-addr 127.0.0.1:8080] [-nats nats://127.0.0.1:4222]
//
// With -nats, rooms are shared with every chat server connected to the
// same NATS servers (a comma-separated list): members of a room may be
// connected to any of them, behind any load balancer, and everyone
// hears everyone. When the NATS servers run JetStream, the rooms'
// histories are kept there, so that a page resumes on any of the chat
// servers, even after the one it was on has died; without JetStream,
// pages that reconnect cannot recover what they missed. Without -nats,
// rooms and their histories live in this process alone.
//
// It prints "listening on HOST:PORT", then the URL to open, and serves
// until interrupted (SIGINT or SIGTERM), then closes every connection with
// 1001 (going away) and exits. Connections are logged to standard error.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
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
	"regexp"
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

// event is a message from the server (see the package doc).
type event struct {
	Kind    string `json:"kind"`
	Text    string `json:"text"`
	Nick    string `json:"nick,omitempty"`
	Resumed bool   `json:"resumed,omitempty"`
	Lost    string `json:"lost,omitempty"`
}

// withPosition adds "pos" to a broadcast event: {"pos":"E:O",...}.
func withPosition(pos room.Position, _ room.MemberInfo, typ protocol.MessageType, data []byte) (protocol.MessageType, []byte) {
	out := make([]byte, 0, len(data)+len(pos.Epoch)+32)
	out = append(out, `{"pos":"`...)
	out = append(out, pos.String()...)
	out = append(out, `",`...)
	return typ, append(out, data[1:]...)
}

// marshal encodes an event.
func marshal(e event) []byte {
	data, _ := json.Marshal(e) // strings and bools only: never fails
	return data
}

var validNick = regexp.MustCompile(`^user-[0-9]{4}$`)

// chat serves one member of a room.
func chat(hub *room.Hub) service.HandlerFunc {
	return func(ctx context.Context, c *service.Conn) error {
		name := c.Param("room")
		if name == "" {
			name = "lobby"
		}
		q := c.Request().URL.Query()
		nick := q.Get("nick")
		if !validNick.MatchString(nick) {
			nick = fmt.Sprintf("user-%d", 1000+rand.IntN(9000))
		}
		meta := map[string]string{"nick": nick}
		hello := event{Kind: "hello", Nick: nick, Text: "you are " + nick + " in " + name + "."}
		var m *room.Member
		if since := q.Get("since"); since != "" {
			pos, err := room.ParsePosition(since)
			if err == nil {
				m, err = hub.Resume(ctx, name, c, meta, pos)
			}
			// Not recoverable, a position that does not parse, or a
			// history that cannot be read now: join afresh, saying why.
			var re *room.RecoveryError
			switch {
			case errors.As(err, &re):
				hello.Lost = re.Reason
			case err != nil:
				hello.Lost = err.Error()
			}
			hello.Resumed = m != nil
		}
		if m == nil {
			var err error
			if m, err = hub.Join(ctx, name, c, meta); err != nil {
				return err
			}
		}
		r := m.Room()
		defer func() {
			m.Leave()
			_ = r.Broadcast(protocol.Text, marshal(event{Kind: "notice", Text: nick + " has left."}))
		}()
		// A broadcast that failed (NATS is down: with the history in
		// JetStream it reached nobody, without it only this server's
		// members) is reported to the sender, who goes on.
		tell := func(err error) error {
			if err == nil || errors.Is(err, room.ErrRoomClosed) {
				return err
			}
			return m.Send(protocol.Text, marshal(event{Kind: "notice", Text: "(not delivered: " + err.Error() + ")"}))
		}
		broadcast := func(e event) error { return tell(r.Broadcast(protocol.Text, marshal(e))) }
		// A resumed member gets hello once it has caught up.
		if err := m.Send(protocol.Text, marshal(hello)); err != nil {
			return err
		}
		// The others hear that a member is back; a resumed member's own
		// page knows it from hello, which arrives once it has caught up,
		// after every message it missed.
		var err error
		if hello.Resumed {
			err = tell(r.BroadcastFrom(m, protocol.Text, marshal(event{Kind: "notice", Text: nick + " is back."})))
		} else {
			err = broadcast(event{Kind: "notice", Text: nick + " has joined."})
		}
		if err != nil {
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
				if err := m.Send(protocol.Text, marshal(event{Kind: "who", Text: who(r)})); err != nil {
					return err
				}
				continue
			}
			if err := broadcast(event{Kind: "chat", Text: nick + ": " + string(data)}); err != nil {
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
	// What each room keeps for pages that reconnect; Encode puts each
	// message's position in it.
	history := &room.History{Size: 1000, MaxAge: time.Hour, Encode: withPosition}
	opts := room.Options{History: history}
	if natsURL != "" {
		tr, err := natstransport.Connect(natsURL, &natstransport.Options{
			OnError: func(err error) { logger.Warn("rooms", "err", err) },
		})
		if err != nil {
			return err
		}
		defer tr.Close()
		switch err := tr.KeepHistory(ctx, *history); {
		case errors.Is(err, room.ErrHistoryUnavailable):
			logger.Warn("rooms keep no history: pages that reconnect cannot recover what they missed", "err", err)
		case err != nil:
			logger.Warn("rooms' history: each room tries again as it is made", "err", err)
		}
		opts.Transport = tr
	}
	hub, err := room.NewHub(&opts)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &service.Server{Handler: newHandler(hub, logger)}
	fmt.Fprintf(stdout, "listening on %s\n", l.Addr())
	fmt.Fprintf(stdout, "open http://%s/ in a browser\n", l.Addr())
	return srv.ServeUntil(ctx, l, 10*time.Second)
}
