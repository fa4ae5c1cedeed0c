package room

import (
	"context"
	"time"

	"github.com/wsmap/wsmap/protocol"
)

// Transport carries rooms' messages and presence between the processes
// that hold their members. The zero Options use none: a room lives in its
// process.
//
// A Transport must deliver to every other process attached to a room what
// one of them publishes to it, once, and must not deliver it back to the
// process that published it.
//
// Every method takes a context that bounds the call. The room gives
// each call it makes at most 5 seconds (10 for an Append, which may have
// to let other processes append first), and ends it sooner when the
// caller's context ends, where there is a caller: Hub.Join's and
// Hub.Resume's ctx for the making of a room and for Read, Room.Resume's
// for Read, a member's connection's while it catches up. The room calls
// no method while it holds a lock of its own, nor a Hub's, so that a
// slow Transport delays only what waits for it.
type Transport interface {
	// Attach starts carrying the named room for this process: deliver
	// receives, one at a time and in order, what other processes publish
	// to it. detach stops it. ctx bounds the attaching, not what
	// follows. The room may call Publish from within deliver (to answer
	// a Sync, say); it calls detach once, never from within deliver.
	Attach(ctx context.Context, room string, deliver func(Event)) (detach func(), err error)

	// Publish hands an event that happened here to the room's other
	// processes. The room publishes its presence events one at a time,
	// in the order they happened, and every broadcast after delivering
	// it locally: Publish must not wait long, and must not deliver to
	// this process's rooms from within the call. An error says the
	// event may not reach the other processes.
	Publish(ctx context.Context, room string, e Event) error
}

// A HistoryTransport is a Transport that also keeps the histories of the
// rooms it carries, so that a member can resume on any process attached
// to its room, including after the process it was on has died. A room
// with Options.History over one keeps its history there, and its newest
// History.Size messages in memory as well. Every process of a room must
// give it the same History.
type HistoryTransport interface {
	Transport

	// KeepHistory asks the Transport to keep the histories of the rooms
	// it carries within h's bounds. An error matching
	// ErrHistoryUnavailable says it cannot, by the way it is set up
	// (such as a NATS server without JetStream): the room then keeps no
	// history, and Resume says so. Any other error fails the room's
	// creation. The room calls it before Attach.
	KeepHistory(ctx context.Context, h History) error

	// Append keeps a broadcast from member from in the room's history
	// at the room's next position, as encode makes it for that position,
	// and returns the position. The Transport then delivers it, with its
	// position (Event.Position), to every process attached to the room,
	// this one included, each once and in the order of the positions.
	// encode calls History.Encode: the Transport may call it more than
	// once, for each position it tries.
	Append(ctx context.Context, room string, from MemberInfo, encode func(Position) (protocol.MessageType, []byte, error)) (Position, error)

	// Read returns the position of the room's newest message and up to
	// max of its messages after from, in order, as Message events with
	// their positions: none if from is the newest. If from cannot be
	// recovered, it returns a *RecoveryError.
	Read(ctx context.Context, room string, from Position, max int) (head Position, msgs []Event, err error)
}

// The bounds of the Transport calls a room makes (see Transport).
const (
	// callTimeout bounds a call: the making of a room (KeepHistory,
	// Attach, and the Publish of its Sync), a Publish, a Read.
	callTimeout = 5 * time.Second
	// appendTimeout bounds a Broadcast's Append to a HistoryTransport.
	appendTimeout = 10 * time.Second
)

// EventKind says what an Event is.
type EventKind int

const (
	// Message is a message to every member.
	Message EventKind = iota + 1
	// Joined says Member joined the room.
	Joined
	// Left says Member left the room.
	Left
	// Sync says a process has attached to the room and asks the others
	// to announce their members again (with Joined events), so that it
	// learns who joined before it.
	Sync
)

// Event is what a Transport carries.
type Event struct {
	Kind EventKind
	// Member is who joined or left, or who sent a message ("" ID: the
	// server).
	Member MemberInfo
	// Type and Data are a message's.
	Type protocol.MessageType
	Data []byte
	// Position is a message's position in its room's history, from a
	// HistoryTransport.
	Position Position
}

// MemberInfo describes a member, in this process or another.
type MemberInfo struct {
	// ID is unique across processes and lifetimes.
	ID string
	// Meta is the metadata the member joined with, such as a nickname.
	// It must not be modified.
	Meta map[string]string
}
