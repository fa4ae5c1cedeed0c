package natstransport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsmap/wsmap/internal/xsync"
	"github.com/wsmap/wsmap/room"
)

// Defaults for Options.
const (
	// DefaultPrefix is the first token of every subject a Transport uses,
	// unless Options.Prefix says otherwise.
	DefaultPrefix = "wsmap"
	// DefaultHeartbeatInterval is how often a process says it is alive,
	// unless Options.HeartbeatInterval says otherwise.
	DefaultHeartbeatInterval = time.Second
)

// Errors returned by a Transport's methods, matchable with errors.Is.
var (
	// ErrClosed is returned by Attach and Publish after Close.
	ErrClosed = errors.New("natstransport: transport closed")
	// ErrAttached is returned by Attach for a room this Transport
	// already carries.
	ErrAttached = errors.New("natstransport: room already attached")
)

// Options configures a Transport. The zero value, or nil, is ready to use.
type Options struct {
	// Prefix is the first token or tokens of the Transport's subjects,
	// which keeps several applications apart on one NATS system. Every
	// process of one application must use the same. Defaults to
	// DefaultPrefix.
	Prefix string

	// HeartbeatInterval is how often this process tells the others it is
	// alive, and how often it looks for processes that went silent.
	// Defaults to DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration

	// PeerTimeout is how long another process may stay silent before its
	// members are removed from this process's presence. It must be
	// longer than every process's HeartbeatInterval. Defaults to four
	// times HeartbeatInterval.
	PeerTimeout time.Duration

	// OnError, if set, is called with errors that happen away from any
	// caller: a message on the Transport's subjects that cannot be read
	// (ErrMalformed), messages NATS dropped because this process read
	// them too slowly (nats.ErrSlowConsumer), a heartbeat or a presence
	// announcement that could not be published, and the connection
	// closing for good (nats.ErrConnectionClosed). It is called from the
	// Transport's goroutines and must not block.
	OnError func(error)
}

// Transport carries rooms between processes over NATS. It implements
// room.Transport; give it to room.Options. All its methods are safe for
// concurrent use.
type Transport struct {
	nc        *nats.Conn
	own       bool // Close closes nc
	origin    string
	prefix    string
	aliveSubj string
	interval  time.Duration
	timeout   time.Duration
	onError   func(error)
	aliveSub  *nats.Subscription
	closed    atomic.Bool
	resync    atomic.Bool // every room to be synchronized on the next tick
	done      chan struct{}
	loopEnded chan struct{}
	bufs      sync.Pool // *[]byte, for encoding

	// mu guards what follows. It is never held while an attachment's
	// lock is taken; an attachment's lock may be held while it is (a
	// room publishes from within a delivery).
	mu        sync.RWMutex
	rooms     map[string]*attachment
	attaching map[string]bool      // rooms being attached, outside mu
	peers     map[string]time.Time // other processes, by ID: when last heard from
	expired   map[string]time.Time // processes whose members were removed for silence, and when

	// The heartbeat loop's own.
	reconnects uint64
	closedSeen bool

	// The stream of the rooms' histories, once KeepHistory has made it
	// (see history.go): making is held while KeepHistory makes or
	// updates it, histMu while what follows is read or written.
	making   xsync.Mutex
	histMu   sync.Mutex
	js       jetstream.JetStream
	stream   jetstream.Stream
	histSize int
	histAge  time.Duration
	cursors  map[string]readCursor // by room: where its last Read ended
}

var _ room.Transport = (*Transport)(nil)

// New returns a Transport over nc, which stays the caller's: Close does
// not close it. nc should reconnect on its own (nats.go does, by
// default up to 60 times; nats.MaxReconnects(-1) for ever).
func New(nc *nats.Conn, opts *Options) (*Transport, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if err := checkPrefix(o.Prefix); err != nil {
		return nil, err
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.PeerTimeout <= 0 {
		o.PeerTimeout = 4 * o.HeartbeatInterval
	}
	if o.PeerTimeout <= o.HeartbeatInterval {
		return nil, fmt.Errorf("natstransport: PeerTimeout %v must be longer than HeartbeatInterval %v", o.PeerTimeout, o.HeartbeatInterval)
	}
	var id [8]byte
	_, _ = rand.Read(id[:]) // never fails (crypto/rand)
	t := &Transport{
		nc:         nc,
		origin:     hex.EncodeToString(id[:]),
		prefix:     o.Prefix,
		aliveSubj:  o.Prefix + ".alive",
		interval:   o.HeartbeatInterval,
		timeout:    o.PeerTimeout,
		onError:    o.OnError,
		done:       make(chan struct{}),
		loopEnded:  make(chan struct{}),
		rooms:      make(map[string]*attachment),
		attaching:  make(map[string]bool),
		peers:      make(map[string]time.Time),
		expired:    make(map[string]time.Time),
		reconnects: nc.Stats().Reconnects,
	}
	sub, err := nc.Subscribe(t.aliveSubj, t.receiveAlive)
	if err != nil {
		return nil, fmt.Errorf("natstransport: subscribe %s: %w", t.aliveSubj, err)
	}
	t.aliveSub = sub
	t.publishControl(t.aliveSubj, kindAlive)
	go t.loop()
	return t, nil
}

// Connect connects to the NATS servers at url (a comma-separated list)
// and returns a Transport that owns the connection: Close closes it.
// The connection reconnects for ever, one second apart; natsOpts are
// applied after these defaults, and may change them or add
// credentials, TLS and the like. Connect fails if no server answers.
func Connect(url string, opts *Options, natsOpts ...nats.Option) (*Transport, error) {
	o := append([]nats.Option{
		nats.Name("wsmap"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
	}, natsOpts...)
	nc, err := nats.Connect(url, o...)
	if err != nil {
		return nil, fmt.Errorf("natstransport: connect: %w", err)
	}
	t, err := New(nc, opts)
	if err != nil {
		nc.Close()
		return nil, err
	}
	t.own = true
	return t, nil
}

// ID returns this process's ID on the Transport's subjects, unique to
// this Transport.
func (t *Transport) ID() string { return t.origin }

// Conn returns the NATS connection.
func (t *Transport) Conn() *nats.Conn { return t.nc }

// Attach subscribes to the room's subject and delivers to deliver what
// other processes publish there, one event at a time and in order. A
// Transport carries a room once: a second Attach of the same name
// before detaching fails with ErrAttached. With rooms' histories (see
// KeepHistory), ctx bounds the making of the room's history consumer (5
// seconds if it has no deadline); the other rooms' events go on
// meanwhile.
func (t *Transport) Attach(ctx context.Context, name string, deliver func(room.Event)) (detach func(), err error) {
	a := &attachment{
		t:       t,
		name:    name,
		subject: t.roomSubject(name),
		deliver: deliver,
		members: make(map[string]map[string]room.MemberInfo),
	}
	t.mu.Lock()
	switch {
	case t.closed.Load():
		t.mu.Unlock()
		return nil, ErrClosed
	case t.rooms[name] != nil || t.attaching[name]:
		t.mu.Unlock()
		return nil, fmt.Errorf("%w: %q", ErrAttached, name)
	}
	t.attaching[name] = true
	t.mu.Unlock()
	err = a.start(ctx)
	t.mu.Lock()
	delete(t.attaching, name)
	if err == nil && t.closed.Load() {
		err = ErrClosed // Close did not see it: stop it here
		_ = a.stop()
	}
	if err == nil {
		t.rooms[name] = a
	}
	t.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return sync.OnceFunc(a.detach), nil
}

// start subscribes to the room's subject and, with rooms' histories,
// starts its history consumer.
func (a *attachment) start(ctx context.Context) error {
	sub, err := a.t.nc.Subscribe(a.subject, a.receive)
	if err != nil {
		return fmt.Errorf("natstransport: room %q: subscribe: %w", a.name, err)
	}
	a.sub = sub
	if st := a.t.history(); st != nil {
		ctx, cancel := bound(ctx, defaultTimeout)
		defer cancel()
		if err := a.consumeHistory(ctx, st); err != nil {
			_ = sub.Unsubscribe()
			return err
		}
	}
	return nil
}

// stop ends the room's subscription and history consumer, once; the
// attachment delivers nothing more. It returns the error of the
// unsubscription, if any other than a closed connection's.
func (a *attachment) stop() error {
	if !a.detached.CompareAndSwap(false, true) {
		return nil // stopped already
	}
	if a.histStop != nil {
		a.histStop()
	}
	if err := a.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return err
	}
	return nil
}

// Publish sends an event of this process's room to the others. A
// message's error is returned: nats.ErrReconnectBufExceeded once the
// connection, while reconnecting, has buffered as much as it may
// (nats.ReconnectBufSize), nats.ErrMaxPayload for a message larger than
// the server takes, nats.ErrConnectionClosed once it has given up.
// Presence events are not sent while the connection is down: when it
// comes back, every room announces its members again. Publish does not
// wait for the network (the connection buffers what it sends): a ctx
// that has ended only refuses the call.
func (t *Transport) Publish(ctx context.Context, name string, e room.Event) error {
	if t.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	env := envelope{origin: t.origin, member: e.Member.ID}
	switch e.Kind {
	case room.Message:
		env.kind, env.typ, env.data = kindMessage, e.Type, e.Data
		if !e.Type.Valid() {
			return fmt.Errorf("natstransport: room %q: invalid message type %v", name, e.Type)
		}
	case room.Joined:
		env.kind, env.meta = kindJoined, e.Member.Meta
	case room.Left:
		env.kind = kindLeft
	case room.Sync:
		env.kind = kindHello
	default:
		return fmt.Errorf("natstransport: room %q: unknown event kind %d", name, e.Kind)
	}
	if env.kind != kindMessage && !t.nc.IsConnected() {
		return nil
	}
	t.mu.RLock()
	a := t.rooms[name]
	t.mu.RUnlock()
	var subject string
	if a != nil {
		subject = a.subject // made once, at Attach
	} else {
		subject = t.roomSubject(name)
	}
	if err := t.publish(subject, &env); err != nil {
		return fmt.Errorf("natstransport: room %q: %w", name, err)
	}
	return nil
}

// roomSubject returns the subject of the named room's events.
func (t *Transport) roomSubject(name string) string { return t.prefix + ".room." + roomToken(name) }

// publish encodes env and publishes it on subject.
func (t *Transport) publish(subject string, env *envelope) error {
	bp, _ := t.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	*bp = appendEnvelope((*bp)[:0], env)
	// nats.go copies the bytes into its write buffer before returning.
	err := t.nc.Publish(subject, *bp)
	if cap(*bp) <= 64<<10 {
		t.bufs.Put(bp)
	}
	return err
}

// publishControl publishes a message of kind k, with nothing but this
// process's ID, reporting a failure.
func (t *Transport) publishControl(subject string, k kind) {
	if err := t.publish(subject, &envelope{kind: k, origin: t.origin}); err != nil {
		t.report(fmt.Errorf("natstransport: publish %s on %s: %w", k, subject, err))
	}
}

// Close detaches every room, tells the other processes that this one's
// members are gone, and stops the heartbeat. It closes the connection if
// Connect made it. Rooms still open keep their local members but reach
// no other process. Calling it again does nothing.
func (t *Transport) Close() error {
	if !t.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(t.done)
	<-t.loopEnded
	t.mu.Lock()
	rooms := t.rooms
	t.rooms = make(map[string]*attachment)
	t.mu.Unlock()
	var errs []error
	for _, a := range rooms {
		if err := a.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := t.aliveSub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		errs = append(errs, err)
	}
	if t.nc.IsConnected() {
		t.publishControl(t.aliveSubj, kindBye)
		if err := t.nc.FlushTimeout(max(t.interval, minCloseFlush)); err != nil {
			errs = append(errs, fmt.Errorf("natstransport: flush: %w", err))
		}
	}
	if t.own {
		t.nc.Close()
	}
	return errors.Join(errs...)
}

// minCloseFlush is the least Close waits for NATS to confirm that what
// it published last (the goodbye, the members' leaving) has reached the
// server: a round trip, which a loaded machine can make longer than a
// short heartbeat interval.
const minCloseFlush = 2 * time.Second

func (t *Transport) report(err error) {
	if t.onError != nil {
		t.onError(err)
	}
}
