package room

import (
	"context"
	"fmt"
	"time"

	"github.com/wsmap/wsmap/internal/prepared"
	"github.com/wsmap/wsmap/protocol"
)

// noHistory is a room that keeps no history: its broadcasts are
// delivered here, then handed to the Transport, if any, and members
// cannot resume.
type noHistory struct {
	r *Room
	// why, if set, is why a HistoryTransport keeps none (see
	// ErrHistoryUnavailable), told to whoever asks to resume.
	why error
}

func (h *noHistory) broadcast(from *Member, typ protocol.MessageType, data []byte) error {
	pm, err := prepared.New(typ, data)
	if err != nil {
		return fmt.Errorf("room: %w", err)
	}
	if err := h.r.fanOut(pm, from); err != nil {
		return err
	}
	return h.r.publishMessage(from, typ, data)
}

func (h *noHistory) deliver(_ Event, pm *prepared.Message) { _ = h.r.fanOut(pm, nil) }

func (h *noHistory) recoverable(context.Context, Position) error { return nil }

func (h *noHistory) admitLocked(p Position) (bool, error) {
	return false, &RecoveryError{Room: h.r.name, Position: p, Current: h.positionLocked(), Reason: "no history", Err: h.why}
}

// catchUp is never called: no member resumes.
func (h *noHistory) catchUp(context.Context, *Member) bool { return false }

func (h *noHistory) positionLocked() Position { return Position{Offset: h.r.seq} }

func (h *noHistory) keepFor() time.Duration { return 0 }
