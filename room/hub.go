package room

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/wsmap/wsmap/internal/xsync"
	"github.com/wsmap/wsmap/service"
)

// Hub holds rooms by name: a room comes into being with its first member
// and is closed after its last one leaves, or, with History, once its
// newest message is History.MaxAge old, so that members can come back
// to it meanwhile. A room closed with Room.Close is replaced by a new one
// at the next Join. It is safe for concurrent use; the zero value is
// not, use NewHub.
//
// A room is made, over a Transport, without the hub's lock: the Joins
// of other rooms do not wait for it, and those of the same room wait
// for it as long as their context allows.
type Hub struct {
	opts  Options
	mu    sync.Mutex
	rooms map[string]*entry
}

// entry is a room the hub holds, or is making.
type entry struct {
	// making is held while the room is made, by the Join that makes
	// it (see Hub.make); the others wait for it by locking it.
	making xsync.Mutex
	// Guarded by the hub's lock.
	room  *Room // nil while it is made
	err   error // why it could not be made
	retry bool  // the maker's context ended: another Join may try again
}

// NewHub returns a hub whose rooms are made with opts (copied, History
// included); nil means the defaults. Options that no room can be made
// with are refused here, with an error matching ErrInvalidOptions,
// rather than at the first Join.
func NewHub(opts *Options) (*Hub, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	h := &Hub{rooms: make(map[string]*entry)}
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
// Room.Join. Over a Transport, ctx bounds the wait for the room to be
// made (by this Join, within 5 seconds per call to the Transport, or by
// another); the Joins of other rooms do not wait for it.
func (h *Hub) Join(ctx context.Context, name string, c *service.Conn, meta map[string]string) (*Member, error) {
	return h.join(ctx, name, c, meta, nil)
}

// Resume adds c to the named room from a position. See Room.Resume; ctx
// bounds the wait for the room, as in Join, and what Room.Resume waits
// for.
//
// A room the hub does not hold has, in this process, none of the
// messages after from: Resume then makes no room and returns a
// *RecoveryError whose Current is the zero Position, since the room
// that a Join then makes is of a new epoch. Only over a HistoryTransport,
// whose history may hold them, does it make the room to resume in.
func (h *Hub) Resume(ctx context.Context, name string, c *service.Conn, meta map[string]string, from Position) (*Member, error) {
	return h.join(ctx, name, c, meta, &from)
}

func (h *Hub) join(ctx context.Context, name string, c *service.Conn, meta map[string]string, from *Position) (*Member, error) {
	for {
		r, err := h.room(ctx, name, from == nil || h.opts.Transport != nil && h.opts.History != nil)
		if err != nil {
			return nil, err
		}
		if r == nil {
			return nil, h.unheld(name, c, *from)
		}
		m, err := r.join(ctx, c, meta, from)
		switch {
		case errors.Is(err, ErrRoomClosed):
			continue // closed in between: make a new one, once it is detached
		case err != nil && r.Len() == 0:
			h.idle(r) // made for a resume it could not serve, say
		}
		return m, err
	}
}

// Room returns the named room if the hub holds it (it has members, or
// keeps its history for them), or nil; nil too while it is being made.
func (h *Hub) Room(name string) *Room {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.rooms[name]; e != nil {
		return e.room
	}
	return nil
}

// Rooms returns the names of the rooms the hub holds, sorted.
func (h *Hub) Rooms() []string {
	h.mu.Lock()
	names := make([]string, 0, len(h.rooms))
	for name, e := range h.rooms {
		if e.room != nil {
			names = append(names, name)
		}
	}
	h.mu.Unlock()
	slices.Sort(names)
	return names
}

// room returns the named room, making it if the hub holds none and create
// is set, else nil. It waits, as long as ctx allows, for a room another
// Join is making, and for a closed room to be detached from its
// Transport before it forgets it.
func (h *Hub) room(ctx context.Context, name string, create bool) (*Room, error) {
	for {
		h.mu.Lock()
		e := h.rooms[name]
		var r *Room
		if e != nil {
			r = e.room
		}
		h.mu.Unlock()
		if e == nil {
			if !create {
				return nil, nil
			}
			if r, made, err := h.make(ctx, name); made {
				return r, err
			}
			continue // another Join got there first
		}
		if r == nil {
			// Being made by another Join: wait for it.
			if err := e.making.Lock(ctx); err != nil {
				return nil, fmt.Errorf("room %q: waiting for it to be made: %w", name, err)
			}
			e.making.Unlock()
			h.mu.Lock()
			err, retry := e.err, e.retry
			h.mu.Unlock()
			if err != nil && !retry {
				return nil, err
			}
			continue
		}
		if !r.isClosed() {
			return r, nil
		}
		// Closed (Room.Close, or emptied): once it is detached, so that
		// a new room of the name can attach, forget it.
		select {
		case <-r.gone:
		case <-ctx.Done():
			return nil, fmt.Errorf("room %q: waiting for it to close: %w", name, ctx.Err())
		}
		h.gone(r)
	}
}

// make makes the named room, unless the hub holds it, or another Join
// is making it, by now: made is false then. While it makes it, it holds
// the making of the room's entry, which the other Joins wait for. If the
// making fails because ctx ended, or panics, they try again; otherwise
// they fail with its error.
func (h *Hub) make(ctx context.Context, name string) (r *Room, made bool, err error) {
	e := &entry{}
	e.making.TryLock() // a new Mutex: always
	defer e.making.Unlock()
	h.mu.Lock()
	if h.rooms[name] != nil {
		h.mu.Unlock()
		return nil, false, nil
	}
	h.rooms[name] = e
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if r != nil {
			e.room = r
			return
		}
		e.err, e.retry = err, err == nil || ctx.Err() != nil
		if h.rooms[name] == e {
			delete(h.rooms, name)
		}
	}()
	r, err = newRoom(ctx, name, &h.opts, h)
	return r, true, err
}

// gone forgets r, closed and detached, unless the hub holds another room
// of its name by now.
func (h *Hub) gone(r *Room) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.rooms[r.name]; e != nil && e.room == r {
		delete(h.rooms, r.name)
	}
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

// idle closes r if it is still empty, or, if it keeps a history, once
// its newest message has aged out; the hub forgets it once it is
// detached (gone). A Join racing with it finds the room closed and makes
// a new one then.
func (h *Hub) idle(r *Room) {
	if r.Len() > 0 {
		return // joined again meanwhile
	}
	if d := r.keepFor(); d > 0 {
		time.AfterFunc(d, func() { h.idle(r) })
		return
	}
	r.closeIfEmpty()
}
