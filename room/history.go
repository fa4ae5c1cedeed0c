package room

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wsmap/wsmap/internal/prepared"
	"github.com/wsmap/wsmap/protocol"
)

// DefaultHistoryAge is how long a room keeps a message in its history
// unless History.MaxAge says otherwise.
const DefaultHistoryAge = 5 * time.Minute

// History configures the messages a room keeps so that a member that lost
// its connection can resume from the last position it saw (see
// Room.Resume).
type History struct {
	// Size bounds the messages kept; it must be positive (see
	// ErrInvalidOptions).
	Size int

	// MaxAge bounds how long a message is kept. Defaults to
	// DefaultHistoryAge. A Hub keeps an empty room with history until its
	// newest message is this old, so that its last member can come back.
	MaxAge time.Duration

	// Encode, if set, makes each broadcast into the message the members
	// receive, knowing its position: typically to put the position in
	// it, so that a client can tell the room where it stopped. from is
	// the sender (a zero MemberInfo for Broadcast). It is called on the
	// broadcaster's goroutine, holding no lock of the room's: in a
	// process's own history, once per broadcast, concurrently for
	// broadcasts made at once, each with the position it takes (the
	// room delivers them in the order of their positions, so that a
	// Broadcast returns once those before it are encoded too); over a
	// HistoryTransport, by the Transport, once for each position it
	// tries (another process may take a position first). It must not
	// block, and must not call the room's methods. A position whose
	// Encode panics, or returns an invalid message type, carries no
	// message: its Broadcast panics or fails, and the members receive
	// the next position's. Without Encode, members receive what was
	// broadcast.
	Encode func(pos Position, from MemberInfo, typ protocol.MessageType, data []byte) (protocol.MessageType, []byte)
}

// Position is where a message stands in a room's history: its Offset is
// 1 for the room's first message and grows by one with each broadcast,
// within an Epoch, which changes whenever the history cannot be trusted
// to follow on from before (a room made again, a process restarted). The
// zero Position stands before every message of no epoch.
type Position struct {
	Epoch  string
	Offset uint64
}

// String returns the position's wire form, "epoch:offset", which
// ParsePosition reads: for example "f3a2c1d0e9b8a7f6:42". It needs no
// escaping in a URL's query.
func (p Position) String() string {
	return p.Epoch + ":" + strconv.FormatUint(p.Offset, 10)
}

// maxEpochLen bounds an epoch's length in a position's wire form.
const maxEpochLen = 64

// ParsePosition reads a position in its wire form (see Position.String).
// The epoch is 1 to 64 ASCII letters, digits, '-' or '_'; the offset a
// decimal number.
func ParsePosition(s string) (Position, error) {
	epoch, off, ok := strings.Cut(s, ":")
	if !ok {
		return Position{}, fmt.Errorf("room: position %q: want epoch:offset", s)
	}
	if epoch == "" || len(epoch) > maxEpochLen || strings.IndexFunc(epoch, notEpochRune) >= 0 {
		return Position{}, fmt.Errorf("room: position %q: the epoch must be 1 to %d letters, digits, '-' or '_'", s, maxEpochLen)
	}
	n, err := strconv.ParseUint(off, 10, 64)
	if err != nil || off[0] == '+' {
		return Position{}, fmt.Errorf("room: position %q: the offset must be a decimal number", s)
	}
	return Position{Epoch: epoch, Offset: n}, nil
}

func notEpochRune(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_')
}

// ErrUnrecoverable is matched (errors.Is) by the *RecoveryError that
// Resume returns when the room cannot give a member every message after
// its position.
var ErrUnrecoverable = errors.New("room: position cannot be recovered")

// ErrHistoryUnavailable is matched by the error of a HistoryTransport's
// KeepHistory that cannot keep histories as it is set up: a room made
// with History over it carries its messages without one.
var ErrHistoryUnavailable = errors.New("room: the Transport keeps no history")

// RecoveryError says why a position cannot be recovered: the application
// then resynchronizes the client, for example by joining it afresh and
// sending it the state it needs.
type RecoveryError struct {
	Room     string
	Position Position // the position asked for
	// Current is the room's newest position: a member that joins the
	// room afresh receives the messages after it. It is the zero
	// Position when there is no room to name (see Hub.Resume).
	Current Position
	Reason  string // "no history", "another epoch", "aged out" or "ahead of the room"
	// Err is, for "no history" over a HistoryTransport, why it keeps
	// none (such as natstransport.ErrNoJetStream).
	Err error
}

// Error describes the position and the reason, and where the room is
// unless Current is the zero Position.
func (e *RecoveryError) Error() string {
	s := fmt.Sprintf("room %q: position %s cannot be recovered: %s", e.Room, e.Position, e.Reason)
	if e.Current != (Position{}) {
		s += fmt.Sprintf(" (the room is at %s)", e.Current)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is reports whether target is ErrUnrecoverable.
func (e *RecoveryError) Is(target error) bool { return target == ErrUnrecoverable }

// Unwrap returns Err.
func (e *RecoveryError) Unwrap() error { return e.Err }

// history is what a room does with its broadcasts: how each gets its
// position and reaches the members, here and in other processes, and
// what a member that resumes can have. A room has one, chosen by its
// Options: noHistory (it keeps none), localHistory (it keeps its own, in
// this process) or sharedHistory (a HistoryTransport keeps it). Methods
// named ...Locked are called with the room's lock held, the others
// without it.
type history interface {
	// broadcast sends a message from member from (nil: the room) to
	// every member, here and elsewhere, but from.
	broadcast(from *Member, typ protocol.MessageType, data []byte) error
	// deliver gives the local members a message another process sent,
	// made into pm.
	deliver(e Event, pm *prepared.Message)
	// recoverable returns the *RecoveryError that says why a member
	// cannot resume from p, as far as the room can tell before taking
	// its lock, or nil.
	recoverable(ctx context.Context, p Position) error
	// admitLocked returns the *RecoveryError that says why a member
	// cannot resume from p, or reports whether it is live at once
	// (it has every message delivered here).
	admitLocked(p Position) (live bool, err error)
	// catchUp writes to member m the messages after its position, then
	// makes it live (see Member.catchUp), reporting false if it left on
	// the way.
	catchUp(ctx context.Context, m *Member) bool
	// positionLocked returns the position of the newest message
	// delivered here.
	positionLocked() Position
	// keepFor returns how much longer an empty room should be kept for
	// its history.
	keepFor() time.Duration
}
