package room

import "github.com/wsmap/wsmap/protocol"

// Transport carries rooms' messages and presence between the processes
// that hold their members. The zero Options use none: a room lives in its
// process.
//
// A Transport must deliver to every other process attached to a room what
// one of them publishes to it, once, and must not deliver it back to the
// process that published it.
type Transport interface {
	// Attach starts carrying the named room for this process: deliver
	// receives, one at a time and in order, what other processes publish
	// to it. detach stops it.
	Attach(room string, deliver func(Event)) (detach func(), err error)

	// Publish hands an event that happened here to the room's other
	// processes. The room calls it while it holds its lock for presence
	// events (so that they go out in the order they happened) and on
	// every broadcast: it must not wait long, and must not deliver to
	// this process's rooms from within the call. An error says the event
	// may not reach the other processes.
	Publish(room string, e Event) error
}

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
}

// MemberInfo describes a member, in this process or another.
type MemberInfo struct {
	// ID is unique across processes and lifetimes.
	ID string
	// Meta is the metadata the member joined with, such as a nickname.
	// It must not be modified.
	Meta map[string]string
}
