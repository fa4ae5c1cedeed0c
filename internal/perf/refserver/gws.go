package main

import (
	"net/http"
	"sync"

	"github.com/lxzan/gws"
)

// gwsServer serves /room as one broadcast room and every other path as
// an echo, both with github.com/lxzan/gws.
func gwsServer() http.Handler {
	echo := gws.NewUpgrader(gwsEcho{}, &gws.ServerOption{SubProtocols: []string{"echo"}})
	room := &gwsRoom{members: map[*gws.Conn]struct{}{}}
	broadcast := gws.NewUpgrader(room, &gws.ServerOption{SubProtocols: []string{"echo"}})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := echo
		if r.URL.Path == "/room" {
			up = broadcast
		}
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		go c.ReadLoop()
	})
}

// gwsEcho sends every message back.
type gwsEcho struct{ gws.BuiltinEventHandler }

func (gwsEcho) OnMessage(c *gws.Conn, m *gws.Message) {
	_ = c.WriteMessage(m.Opcode, m.Bytes())
	_ = m.Close()
}

// gwsRoom sends each member "joined", then every message a member sends
// to all, through a gws.Broadcaster that frames it once.
type gwsRoom struct {
	gws.BuiltinEventHandler
	mu      sync.RWMutex
	members map[*gws.Conn]struct{}
}

func (r *gwsRoom) OnOpen(c *gws.Conn) {
	r.mu.Lock()
	r.members[c] = struct{}{}
	r.mu.Unlock()
	_ = c.WriteString("joined")
}

func (r *gwsRoom) OnClose(c *gws.Conn, _ error) {
	r.mu.Lock()
	delete(r.members, c)
	r.mu.Unlock()
}

func (r *gwsRoom) OnMessage(_ *gws.Conn, m *gws.Message) {
	b := gws.NewBroadcaster(m.Opcode, m.Bytes())
	r.mu.RLock()
	for c := range r.members {
		_ = b.Broadcast(c)
	}
	r.mu.RUnlock()
	_ = b.Close()
	_ = m.Close()
}
