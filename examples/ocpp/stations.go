package main

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/message/ocppj"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// versions are the OCPP versions served, in the order they are listed to
// a station that offers neither.
var versions = []ocppj.Version{ocppj.V201, ocppj.V16}

// csms is the central system: the stations connected, each version's
// schemas and handlers, and the business they share.
type csms struct {
	central     *central
	callTimeout time.Duration
	log         *slog.Logger
	schemas     map[ocppj.Version]*schemaSet
	handlers    map[ocppj.Version]message.Handler

	mu       sync.Mutex
	stations map[string]*station // by id
}

// newCSMS compiles each version's schemas and builds its handlers.
func newCSMS(cs *central, callTimeout time.Duration, log *slog.Logger) (*csms, error) {
	s := &csms{
		central:     cs,
		callTimeout: callTimeout,
		log:         log,
		schemas:     map[ocppj.Version]*schemaSet{},
		handlers:    map[ocppj.Version]message.Handler{},
		stations:    map[string]*station{},
	}
	routers := map[ocppj.Version]*message.Router{ocppj.V16: router16(cs), ocppj.V201: router201(cs)}
	for _, v := range versions {
		set, err := loadSchemas(v)
		if err != nil {
			return nil, err
		}
		s.schemas[v] = set
		s.handlers[v] = newChecked(set, routers[v], log)
	}
	return s, nil
}

// station is a connected charging station.
type station struct {
	id      string
	version ocppj.Version
	schemas *schemaSet
	peer    *message.Peer
	end     context.CancelCauseFunc // ends the connection's Serve
	calls   atomic.Int64            // API calls to it in progress

	mu         sync.Mutex
	vendor     string
	model      string
	connectors map[string]string // status by connector
}

type stationKey struct{}

// stationFrom returns the station a handler's ctx serves.
func stationFrom(ctx context.Context) *station {
	return ctx.Value(stationKey{}).(*station)
}

// errReplaced ends the connection of a station that has connected again.
var errReplaced = errors.New("replaced by a newer connection")

// serve is the connection handler of version v: it registers the
// station, in place of the connection it had, and serves its calls,
// one at a time, until the connection ends. OCPP-J allows one call in
// flight each way: MaxOutgoing makes the API's calls to the station wait
// their turn, MaxIncoming handles the station's one after another.
func (s *csms) serve(v ocppj.Version) service.Handler {
	return service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		ctx, end := context.WithCancelCause(ctx)
		defer end(nil)
		st := &station{id: c.Param("station"), version: v, schemas: s.schemas[v], end: end}
		st.peer = message.New(c, v, s.handlers[v], &message.Options{
			MaxOutgoing: 1,
			MaxIncoming: 1,
			CallTimeout: s.callTimeout,
			OnError:     func(_ *message.Peer, err error) { s.report(st, err) },
		})
		s.add(st)
		defer s.remove(st)
		s.log.Info("station connected", "station", st.id, "protocol", v, "remote", c.RemoteAddr().String())

		err := st.peer.Serve(context.WithValue(ctx, stationKey{}, st))
		if errors.Is(context.Cause(ctx), errReplaced) {
			// The station's newer connection carries on: nothing failed,
			// and the station, if it still reads this one, learns why.
			err = &service.CloseError{Code: protocol.CloseNormal, Reason: "replaced by a newer connection of station " + st.id}
		}
		code, reason := service.CloseStatus(err)
		s.log.Info("station disconnected", "station", st.id, "protocol", v, "code", int(code), "reason", reason)
		return err
	})
}

// noVersion serves a station that offered no version served here (or no
// subprotocol at all). OCPP-J asks the central system to complete the
// handshake without a Sec-WebSocket-Protocol header and close the
// connection at once. The close code is 1008 (policy violation): RFC
// 6455 gives it to an endpoint that refuses a peer by its own policy when
// no more specific code fits, and serving only the versions it speaks is
// this server's policy; 1002 would claim a fault in the WebSocket
// framing, of which there is none. The reason names the versions served,
// so that whoever reads the station's log knows what to configure.
func (s *csms) noVersion() service.Handler {
	names := make([]string, len(versions))
	for i, v := range versions {
		names[i] = string(v)
	}
	reason := "no OCPP version offered is served here; offer one of " + strings.Join(names, ", ")
	return service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		s.log.Warn("station refused: no version served", "station", c.Param("station"),
			"offered", c.Request().Header.Values(protocol.HeaderProtocol))
		return &service.CloseError{Code: protocol.ClosePolicyViolation, Reason: reason}
	})
}

// add registers st, ending the connection the station had, if any.
func (s *csms) add(st *station) {
	s.mu.Lock()
	old := s.stations[st.id]
	s.stations[st.id] = st
	s.mu.Unlock()
	if old != nil {
		old.end(errReplaced)
	}
}

// remove forgets st, unless a newer connection of the station has taken
// its place.
func (s *csms) remove(st *station) {
	s.mu.Lock()
	if s.stations[st.id] == st {
		delete(s.stations, st.id)
	}
	s.mu.Unlock()
}

// station returns the station connected as id, or nil.
func (s *csms) station(id string) *station {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stations[id]
}

// list returns the stations connected, by id.
func (s *csms) list() []*station {
	s.mu.Lock()
	list := make([]*station, 0, len(s.stations))
	for _, st := range s.stations {
		list = append(list, st)
	}
	s.mu.Unlock()
	slices.SortFunc(list, func(a, b *station) int { return strings.Compare(a.id, b.id) })
	return list
}

// report logs what a station's Peer reports: a handler's failure, a
// message that could not be used, an answer that came too late.
func (s *csms) report(st *station, err error) {
	level := slog.LevelWarn
	var he *message.HandlerError
	if errors.As(err, &he) {
		level = slog.LevelError
	}
	s.log.Log(context.Background(), level, "station message", "station", st.id, "protocol", st.version, "error", err.Error())
}
