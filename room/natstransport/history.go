package natstransport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsmap/wsmap/internal/xsync"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/room"
)

// Rooms' histories, when a room asks for one (room.Options.History), are
// kept in one JetStream stream of the Transport's, named for its prefix
// (histStreamName), with a subject per room:
//
//	P.hist.TOKEN   a room's messages, TOKEN as for P.room.TOKEN
//
// The stream keeps History.Size messages per subject, for History.MaxAge,
// and allows direct gets. Each message carries its position in headers:
//
//	Wsmap-Epoch    the epoch
//	Wsmap-Offset   the offset, in decimal
//	Wsmap-Type     "text" or "binary"
//	Wsmap-Member   the sender's member ID, if any
//
// A message is appended with the next offset after the last message on
// the room's subject, and with that message's stream sequence as the
// expected last sequence for the subject, so that JetStream refuses it
// if another process appended first; it is then tried again after that
// one. Offsets thus follow one another on every process. When the
// subject holds no message (a new room, or one whose messages have all
// aged out), the next message starts a new epoch at offset 1.
//
// Every process reads a room's messages with an ordered consumer of its
// subject, from the newest on, and delivers them to its room in stream
// order, which is the order of the offsets. A member resuming reads what
// it missed with direct gets.
const (
	hdrEpoch  = "Wsmap-Epoch"
	hdrOffset = "Wsmap-Offset"
	hdrType   = "Wsmap-Type"
	hdrMember = "Wsmap-Member"
)

// An Append that loses to another process's tries again, until its
// context ends. Between two tries it waits a random while, up to
// appendBackoff, growing with each try lost: an appender that lost must
// read the room's newest position again before it tries, a round trip
// the winner does not make, so without the wait a process appending
// without pause would win every time.
const appendBackoff = 20 * time.Millisecond

// The bounds of the calls whose context has no deadline: KeepHistory,
// the history consumer of an Attach, and Read within defaultTimeout; an
// Append, which may have to let other processes append first, within
// defaultAppendTimeout.
const (
	defaultTimeout       = 5 * time.Second
	defaultAppendTimeout = 10 * time.Second
)

// bound returns ctx, given a deadline d from now if it has none.
func bound(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// ErrNoJetStream is returned, wrapped, by KeepHistory when the NATS
// servers have no JetStream: rooms then keep no history. It matches
// room.ErrHistoryUnavailable.
var ErrNoJetStream error = noJetStream{}

type noJetStream struct{}

func (noJetStream) Error() string { return "natstransport: JetStream is not available" }

func (noJetStream) Is(target error) bool { return target == room.ErrHistoryUnavailable }

var _ room.HistoryTransport = (*Transport)(nil)

// histStreamName returns the name of the stream that keeps the rooms'
// histories of the transports with this prefix.
func histStreamName(prefix string) string {
	return strings.ToUpper(strings.ReplaceAll(prefix, ".", "_")) + "_HISTORY"
}

// KeepHistory makes the stream that keeps the rooms' histories, or
// updates its bounds to h's: History.Size messages per room, for
// History.MaxAge (room.DefaultHistoryAge if zero). It fails, with
// ErrNoJetStream, if the NATS servers have no JetStream. While JetStream
// refuses otherwise (starting, another process making the same stream),
// it tries again until ctx ends (5 seconds if it has no deadline). Rooms
// made with room.Options.History call it; while one call makes the
// stream, the others wait for it, as long as their ctx allows.
func (t *Transport) KeepHistory(ctx context.Context, h room.History) error {
	if t.closed.Load() {
		return ErrClosed
	}
	if h.Size <= 0 {
		return errors.New("natstransport: History.Size must be positive")
	}
	age := h.MaxAge
	if age <= 0 {
		age = room.DefaultHistoryAge
	}
	ctx, cancel := bound(ctx, defaultTimeout)
	defer cancel()
	if err := t.making.Lock(ctx); err != nil {
		return fmt.Errorf("natstransport: history stream: %w", err)
	}
	defer t.making.Unlock()
	t.histMu.Lock()
	made := t.stream != nil && t.histSize == h.Size && t.histAge == age
	t.histMu.Unlock()
	if made {
		return nil
	}
	js, err := jetstream.New(t.nc)
	if err != nil {
		return fmt.Errorf("natstransport: %w", err)
	}
	cfg := jetstream.StreamConfig{
		Name:              histStreamName(t.prefix),
		Subjects:          []string{t.prefix + ".hist.*"},
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: int64(h.Size),
		MaxAge:            age,
		Discard:           jetstream.DiscardOld,
		Storage:           jetstream.FileStorage,
		AllowDirect:       true,
	}
	// JetStream may refuse for a moment what it grants a moment later:
	// while it starts, or while another process makes the same stream.
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		st, err := js.CreateOrUpdateStream(ctx, cfg)
		switch {
		case err == nil:
			t.histMu.Lock()
			t.js, t.stream, t.histSize, t.histAge = js, st, h.Size, age
			t.histMu.Unlock()
			return nil
		case errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) || errors.Is(err, nats.ErrNoResponders):
			return fmt.Errorf("%w: %w", ErrNoJetStream, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("natstransport: history stream: %w (last try: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}

// histSubject returns the subject of the named room's history.
func (t *Transport) histSubject(name string) string { return t.prefix + ".hist." + roomToken(name) }

// history returns the stream, or nil if KeepHistory has not made it.
func (t *Transport) history() jetstream.Stream {
	t.histMu.Lock()
	defer t.histMu.Unlock()
	return t.stream
}

// jetStream returns the JetStream context and the stream, or nils if
// KeepHistory has not made them.
func (t *Transport) jetStream() (jetstream.JetStream, jetstream.Stream) {
	t.histMu.Lock()
	defer t.histMu.Unlock()
	return t.js, t.stream
}

// histState is what a process knows of a room's newest message: its
// stream sequence and its position.
type histState struct {
	mu    xsync.Mutex // held for the length of an Append
	known bool
	seq   uint64
	pos   room.Position
}

// consumeHistory starts delivering the room's history to a, from the
// next message appended on. (From a stream sequence rather than "new
// messages", so that a consumer made again before it has delivered
// anything still starts there.)
func (a *attachment) consumeHistory(ctx context.Context, st jetstream.Stream) error {
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("natstransport: room %q: history stream: %w", a.name, err)
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{a.t.histSubject(a.name)},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    info.State.LastSeq + 1,
	})
	if err != nil {
		return fmt.Errorf("natstransport: room %q: history consumer: %w", a.name, err)
	}
	cc, err := cons.Consume(a.receiveHistory, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		a.t.report(fmt.Errorf("natstransport: room %q: history: %w", a.name, err))
	}))
	if err != nil {
		return fmt.Errorf("natstransport: room %q: history consumer: %w", a.name, err)
	}
	a.histStop = cc.Stop
	return nil
}

// receiveHistory delivers a message of the room's history.
func (a *attachment) receiveHistory(msg jetstream.Msg) {
	if a.detached.Load() {
		return
	}
	e, err := historyEvent(msg.Headers(), msg.Data())
	if err != nil {
		a.t.report(fmt.Errorf("%w: room %q: history: %w", ErrMalformed, a.name, err))
		return
	}
	a.mu.Lock()
	if !a.detached.Load() {
		a.deliver(e)
	}
	a.mu.Unlock()
}

// historyHeader returns the headers of a history's message at pos, of
// type typ, from member (which may be "").
func historyHeader(pos room.Position, typ protocol.MessageType, member string) nats.Header {
	h := nats.Header{}
	h.Set(hdrEpoch, pos.Epoch)
	h.Set(hdrOffset, strconv.FormatUint(pos.Offset, 10))
	h.Set(hdrType, typ.String())
	if member != "" {
		h.Set(hdrMember, member)
	}
	return h
}

// historyEvent reads a message of a history, as historyHeader and Append
// write it.
func historyEvent(h nats.Header, data []byte) (room.Event, error) {
	off, err := strconv.ParseUint(h.Get(hdrOffset), 10, 64)
	if err != nil || off == 0 {
		return room.Event{}, fmt.Errorf("offset %q", h.Get(hdrOffset))
	}
	epoch := h.Get(hdrEpoch)
	if epoch == "" {
		return room.Event{}, errors.New("no epoch")
	}
	var typ protocol.MessageType
	switch h.Get(hdrType) {
	case "text":
		typ = protocol.Text
	case "binary":
		typ = protocol.Binary
	default:
		return room.Event{}, fmt.Errorf("message type %q", h.Get(hdrType))
	}
	return room.Event{Kind: room.Message, Member: room.MemberInfo{ID: h.Get(hdrMember)}, Type: typ, Data: data,
		Position: room.Position{Epoch: epoch, Offset: off}}, nil
}

// Append appends a broadcast to the room's history at its next position
// (see the comment on the subjects above) and returns the position; the
// Transport's history consumers then deliver it to every process of the
// room, this one included. A process appends to a room one broadcast at
// a time: an Append waits for the one before it as long as ctx allows.
// It fails if KeepHistory has not been called, or once ctx ends (10
// seconds if it has no deadline) while other processes keep appending
// first.
func (t *Transport) Append(ctx context.Context, name string, from room.MemberInfo, encode func(room.Position) (protocol.MessageType, []byte, error)) (room.Position, error) {
	if t.closed.Load() {
		return room.Position{}, ErrClosed
	}
	js, st := t.jetStream()
	if st == nil {
		return room.Position{}, errors.New("natstransport: Append without KeepHistory")
	}
	t.mu.RLock()
	a := t.rooms[name]
	t.mu.RUnlock()
	hs := &histState{}
	if a != nil {
		hs = &a.hist
	}
	subject := t.histSubject(name)
	ctx, cancel := bound(ctx, defaultAppendTimeout)
	defer cancel()
	if err := hs.mu.Lock(ctx); err != nil {
		return room.Position{}, fmt.Errorf("natstransport: room %q: append: %w", name, err)
	}
	defer hs.mu.Unlock()
	for try := 0; ; try++ {
		if !hs.known {
			seq, pos, err := lastOnSubject(ctx, st, subject)
			if err != nil {
				return room.Position{}, fmt.Errorf("natstransport: room %q: history: %w", name, err)
			}
			hs.known, hs.seq, hs.pos = true, seq, pos
		}
		next := room.Position{Epoch: hs.pos.Epoch, Offset: hs.pos.Offset + 1}
		if hs.seq == 0 {
			next = room.Position{Epoch: newEpoch(), Offset: 1}
		}
		typ, data, err := encode(next)
		if err != nil {
			return room.Position{}, err
		}
		msg := &nats.Msg{Subject: subject, Header: historyHeader(next, typ, from.ID), Data: data}
		ack, err := js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(hs.seq))
		switch {
		case err == nil:
			hs.seq, hs.pos = ack.Sequence, next
			return next, nil
		case !isWrongLastSequence(err):
			return room.Position{}, fmt.Errorf("natstransport: room %q: append: %w", name, err)
		}
		hs.known = false // another process appended: read its position
		select {
		case <-ctx.Done():
			return room.Position{}, fmt.Errorf("natstransport: room %q: append: other processes appended first (%d tries): %w", name, try+1, ctx.Err())
		case <-time.After(mrand.N(min(time.Millisecond<<min(try, 5), appendBackoff))):
		}
	}
}

func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// lastOnSubject returns the stream sequence and the position of the last
// message on subject, or 0 and the zero position if it has none.
func lastOnSubject(ctx context.Context, st jetstream.Stream, subject string) (uint64, room.Position, error) {
	m, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, room.Position{}, nil
	}
	if err != nil {
		return 0, room.Position{}, err
	}
	e, err := historyEvent(m.Header, m.Data)
	if err != nil {
		return 0, room.Position{}, fmt.Errorf("%w: the last message on %s: %w", ErrMalformed, subject, err)
	}
	return m.Sequence, e.Position, nil
}

// newEpoch returns 64 random bits in hex.
func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// Read returns the position of the room's newest message and up to max of
// its messages after from, from the stream, or a *room.RecoveryError if
// they are not all kept there any more, from is of another epoch, or
// ahead of the room. ctx bounds its requests to JetStream (5 seconds
// if it has no deadline).
func (t *Transport) Read(ctx context.Context, name string, from room.Position, max int) (room.Position, []room.Event, error) {
	st := t.history()
	if st == nil {
		return room.Position{}, nil, &room.RecoveryError{Room: name, Position: from, Reason: "no history"}
	}
	ctx, cancel := bound(ctx, defaultTimeout)
	defer cancel()
	subject := t.histSubject(name)
	lastSeq, head, err := lastOnSubject(ctx, st, subject)
	if err != nil {
		return room.Position{}, nil, fmt.Errorf("natstransport: room %q: history: %w", name, err)
	}
	refuse := func(reason string) (room.Position, []room.Event, error) {
		return head, nil, &room.RecoveryError{Room: name, Position: from, Current: head, Reason: reason}
	}
	switch {
	case lastSeq == 0:
		return refuse("aged out") // no message kept: whatever came before is gone
	case from.Epoch != head.Epoch:
		return refuse("another epoch")
	case from.Offset > head.Offset:
		return refuse("ahead of the room")
	case from.Offset == head.Offset:
		return head, nil, nil
	}
	// A read that goes on from the last one starts after it (a message
	// trimmed since is seen below); any other first asks the room's
	// oldest message kept whether the one after from still is, then
	// looks for its stream sequence.
	seq, onward := t.readOn(name, from)
	if !onward || max <= 0 {
		firstSeq, first, err := firstOnSubject(ctx, st, subject)
		switch {
		case errors.Is(err, errNotKept):
			return refuse("aged out") // all gone since the last was read
		case err != nil:
			return head, nil, fmt.Errorf("natstransport: room %q: history: %w", name, err)
		case first.Epoch != from.Epoch || from.Offset+1 < first.Offset:
			return refuse("aged out")
		case max <= 0:
			return head, nil, nil
		}
		if seq, err = seqOfOffset(ctx, st, subject, firstSeq, lastSeq, from.Offset+1); err != nil {
			if errors.Is(err, errNotKept) {
				return refuse("aged out")
			}
			return head, nil, fmt.Errorf("natstransport: room %q: history: %w", name, err)
		}
	}
	evs, endSeq, err := t.directBatch(ctx, subject, seq, max)
	if err != nil {
		return head, nil, fmt.Errorf("natstransport: room %q: history: %w", name, err)
	}
	if len(evs) > 0 && (evs[0].Position.Offset != from.Offset+1 || evs[0].Position.Epoch != from.Epoch) {
		return refuse("aged out") // trimmed between the search and the read
	}
	if len(evs) > 0 {
		t.readDone(name, evs[len(evs)-1].Position, endSeq)
	}
	return head, evs, nil
}

// readCursor is where the last Read of a room ended: the position and
// stream sequence of the last message it returned.
type readCursor struct {
	pos room.Position
	seq uint64
}

// readOn returns the stream sequence to read from after from, if the
// last Read of the room ended there.
func (t *Transport) readOn(name string, from room.Position) (uint64, bool) {
	t.histMu.Lock()
	defer t.histMu.Unlock()
	c, ok := t.cursors[name]
	if !ok || c.pos != from {
		return 0, false
	}
	return c.seq + 1, true
}

// readDone records where a Read of a room ended.
func (t *Transport) readDone(name string, pos room.Position, seq uint64) {
	t.histMu.Lock()
	defer t.histMu.Unlock()
	if t.cursors == nil {
		t.cursors = make(map[string]readCursor)
	}
	if len(t.cursors) >= maxCursors {
		clear(t.cursors) // rooms many members resume in at once; keep it bounded
	}
	t.cursors[name] = readCursor{pos: pos, seq: seq}
}

// maxCursors bounds the rooms whose last Read a Transport remembers.
const maxCursors = 1024

// errNotKept says the message sought is no longer in the stream.
var errNotKept = errors.New("not kept")

// getOnSubject returns the stream sequence and the position of the
// first message on subject at or after stream sequence seq, or
// errNotKept if there is none.
func getOnSubject(ctx context.Context, st jetstream.Stream, subject string, seq uint64) (uint64, room.Position, error) {
	m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, room.Position{}, errNotKept
	}
	if err != nil {
		return 0, room.Position{}, err
	}
	e, err := historyEvent(m.Header, m.Data)
	if err != nil {
		return 0, room.Position{}, fmt.Errorf("%w: %s at %d: %w", ErrMalformed, subject, m.Sequence, err)
	}
	return m.Sequence, e.Position, nil
}

// firstOnSubject returns the stream sequence and the position of the
// oldest message kept on subject, or errNotKept if there is none.
func firstOnSubject(ctx context.Context, st jetstream.Stream, subject string) (uint64, room.Position, error) {
	return getOnSubject(ctx, st, subject, 1)
}

// seqOfOffset finds the stream sequence of the message at offset on
// subject, whose messages are kept from stream sequence firstSeq to
// lastSeq. The subject's offsets grow with the stream's sequences, so a
// binary search over the sequences finds it, each step a direct get of
// the subject's first message at or after a sequence.
func seqOfOffset(ctx context.Context, st jetstream.Stream, subject string, firstSeq, lastSeq, offset uint64) (uint64, error) {
	// The first message at or after lo has an offset below offset, or is
	// the sought one; the one at or after hi has offset or more.
	lo, hi := firstSeq, lastSeq
	for lo < hi {
		mid := lo + (hi-lo)/2
		seq, pos, err := getOnSubject(ctx, st, subject, mid)
		if err != nil {
			return 0, err
		}
		if pos.Offset >= offset {
			hi = mid
		} else {
			lo = seq + 1 // nothing of the subject's between mid and seq
		}
	}
	seq, pos, err := getOnSubject(ctx, st, subject, lo)
	if err != nil {
		return 0, err
	}
	if pos.Offset != offset {
		return 0, errNotKept
	}
	return seq, nil
}

// directBatch reads up to max messages of subject from stream sequence
// seq on, with one batched direct get, and returns them with the stream
// sequence of the last.
func (t *Transport) directBatch(ctx context.Context, subject string, seq uint64, max int) ([]room.Event, uint64, error) {
	req, err := json.Marshal(struct {
		Seq     uint64 `json:"seq"`
		NextFor string `json:"next_by_subj"`
		Batch   int    `json:"batch"`
	}{seq, subject, max})
	if err != nil {
		return nil, 0, err
	}
	inbox := t.nc.NewRespInbox()
	replies := make(chan *nats.Msg, max+1)
	sub, err := t.nc.ChanSubscribe(inbox, replies)
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := t.nc.PublishRequest("$JS.API.DIRECT.GET."+histStreamName(t.prefix), inbox, req); err != nil {
		return nil, 0, err
	}
	var evs []room.Event
	var last uint64
	for {
		select {
		case m := <-replies:
			switch m.Header.Get("Status") {
			case "204", "404":
				return evs, last, nil // the end of the batch, or nothing at all
			case "":
			default:
				return nil, 0, fmt.Errorf("direct get: status %s %s", m.Header.Get("Status"), m.Header.Get("Description"))
			}
			e, err := historyEvent(m.Header, m.Data)
			if err != nil {
				return nil, 0, fmt.Errorf("%w: %s: %w", ErrMalformed, subject, err)
			}
			if last, err = strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64); err != nil {
				return nil, 0, fmt.Errorf("%w: %s: direct get without a sequence", ErrMalformed, subject)
			}
			evs = append(evs, e)
			if len(evs) == max {
				return evs, last, nil
			}
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("direct get: %w", ctx.Err())
		}
	}
}
