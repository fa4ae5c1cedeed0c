package room

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/wsmap/wsmap/service"
)

// Hub holds rooms by name: a room comes into being with its first member
// and is closed after its last one leaves, or, with History, once its
// newest message is History.MaxAge old, so that members can come back
// to it meanwhile. A room closed with Room.Close is replaced by a new one
// at the next Join. It is safe for concurrent use; the zero value is
// not, use NewHub.
type Hub struct {
	opts  Options
	mu    sync.Mutex
	rooms map[string]*Room
}

// NewHub returns a hub whose rooms are made with opts (copied, History
// included); nil means the defaults. Options that no room can be made
// with are refused here, with an error matching ErrInvalidOptions,
// rather than at the first Join.
func NewHub(opts *Options) (*Hub, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	h := &Hub{rooms: make(map[string]*Room)}
	if opts != nil {
		h.opts = *opts
		if opts.History != nil {
			hist := *opts.History
			h.opts.History = &hist
		}
	}
	return h, nil
}

// Join adds c to the named room, creating the room if need be. See
// Room.Join.
func (h *Hub) Join(name string, c *service.Conn, meta map[string]string) (*Member, error) {
	return h.join(name, c, meta, nil)
}

// Resume adds c to the named room from a position. See Room.Resume.
//
// A room the hub does not hold has, in this process, none of the
// messages after from: Resume then makes no room and returns a
// *RecoveryError whose Current is the zero Position, since the room
// that a Join then makes is of a new epoch. Only over a HistoryTransport,
// whose history may hold them, does it make the room to resume in.
func (h *Hub) Resume(name string, c *service.Conn, meta map[string]string, from Position) (*Member, error) {
	return h.join(name, c, meta, &from)
}

func (h *Hub) join(name string, c *service.Conn, meta map[string]string, from *Position) (*Member, error) {
	for {
		r, err := h.room(name, from == nil || h.opts.Transport != nil && h.opts.History != nil)
		if err != nil {
			return nil, err
		}
		if r == nil {
			return nil, h.unheld(name, c, *from)
		}
		m, err := r.join(c, meta, from)
		switch {
		case errors.Is(err, ErrRoomClosed):
			continue // emptied and closed in between: make a new one
		case err != nil && r.Len() == 0:
			h.idle(r) // made for a resume it could not serve, say
		}
		return m, err
	}
}

// Room returns the named room if the hub holds it (it has members, or
// keeps its history for them), or nil.
func (h *Hub) Room(name string) *Room {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rooms[name]
}

// Rooms returns the names of the rooms the hub holds, sorted.
func (h *Hub) Rooms() []string {
	h.mu.Lock()
	names := make([]string, 0, len(h.rooms))
	for name := range h.rooms {
		names = append(names, name)
	}
	h.mu.Unlock()
	slices.Sort(names)
	return names
}

// room returns the named room, making it if the hub holds none and create
// is set, else nil. A room closed with Room.Close is forgotten here.
func (h *Hub) room(name string, create bool) (*Room, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[name]
	if r != nil && r.isClosed() {
		delete(h.rooms, name)
		r = nil
	}
	if r != nil || !create {
		return r, nil
	}
	r, err := New(name, &h.opts)
	if err != nil {
		return nil, err
	}
	r.onIdle = h.idle
	h.rooms[name] = r
	return r, nil
}

// unheld returns the error of a resume from p into the named room, which
// the hub does not hold and whose history, if it has one, is kept in
// this process.
func (h *Hub) unheld(name string, c *service.Conn, p Position) error {
	if c.State() != service.StateOpen {
		return ErrNotOpen // as Room.Resume says first
	}
	reason := "another epoch"
	if h.opts.History == nil {
		reason = "no history"
	}
	return &RecoveryError{Room: name, Position: p, Reason: reason}
}

// idle closes r and forgets it if it is still empty, or, if it keeps a
// history, once its newest message has aged out. A Join racing with it
// finds the room closed and makes a new one.
func (h *Hub) idle(r *Room) {
	if r.Len() > 0 {
		return // joined again meanwhile
	}
	if d := r.keepFor(); d > 0 {
		time.AfterFunc(d, func() { h.idle(r) })
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rooms[r.name] != r || !r.closeIfEmpty() {
		return
	}
	delete(h.rooms, r.name)
}
