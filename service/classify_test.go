package service

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service/internal/wire"
)

func TestClassifyReadError(t *testing.T) {
	t.Parallel()
	fe := &wire.FrameError{Code: protocol.CloseMessageTooBig, Reason: "message too big: 10 bytes, limit 5"}
	closed := &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		name   string
		err    error
		code   protocol.CloseCode
		reason string
		fail   bool
	}{
		{"the guard's violation", fe, 1009, fe.Reason, true},
		{"the guard's violation, wrapped", fmt.Errorf("read: %w", fe), 1009, fe.Reason, true},
		{"the peer's close", &websocket.CloseError{Code: 1001, Text: "bye"}, 1001, "bye", false},
		{"the peer's close, wrapped", fmt.Errorf("x: %w", &websocket.CloseError{Code: 4000, Text: "app"}), 4000, "app", false},
		{"gorilla's abnormal closure", &websocket.CloseError{Code: websocket.CloseAbnormalClosure}, 1006, "", false},
		{"end of stream", io.EOF, 1006, "", false},
		{"cut short", io.ErrUnexpectedEOF, 1006, "", false},
		{"closed locally", closed, 1006, "", false},
		{"timed out", timeout, 1006, "", false},
		{"read limit", websocket.ErrReadLimit, 1009, "message too big", true},
		{"protocol violation", errors.New("websocket: bad opcode 3"), 1002, "bad opcode 3", true},
	}
	for _, tt := range tests {
		ce, fail := classifyReadError(tt.err)
		got := []any{ce.Code, ce.Reason, fail}
		if diff := cmp.Diff([]any{tt.code, tt.reason, tt.fail}, got); diff != "" {
			t.Errorf("%s: (-want +got)\n%s", tt.name, diff)
		}
	}
}
