package service

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

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
	silent := &silenceError{what: "no pong", within: time.Second}
	tests := []struct {
		name   string
		err    error
		code   protocol.CloseCode
		reason string
		fail   bool
		text   string
	}{
		{"the guard's violation", fe, 1009, fe.Reason, true, `websocket closed: 1009 (message too big) "message too big: 10 bytes, limit 5"`},
		{"the guard's violation, wrapped", fmt.Errorf("read: %w", fe), 1009, fe.Reason, true, `websocket closed: 1009 (message too big) "message too big: 10 bytes, limit 5"`},
		{"the peer's close", &websocket.CloseError{Code: 1001, Text: "bye"}, 1001, "bye", false, `websocket closed: 1001 (going away) "bye"`},
		{"the peer's close, wrapped", fmt.Errorf("x: %w", &websocket.CloseError{Code: 4000, Text: "app"}), 4000, "app", false, `websocket closed: 4000 (private use) "app"`},
		{"gorilla's abnormal closure", &websocket.CloseError{Code: websocket.CloseAbnormalClosure, Text: io.ErrUnexpectedEOF.Error()}, 1006, "", false, `websocket closed: 1006 (abnormal closure): unexpected EOF`},
		{"end of stream", io.EOF, 1006, "", false, `websocket closed: 1006 (abnormal closure): EOF`},
		{"cut short", io.ErrUnexpectedEOF, 1006, "", false, `websocket closed: 1006 (abnormal closure): unexpected EOF`},
		{"closed locally", closed, 1006, "", false, `websocket closed: 1006 (abnormal closure): read tcp: use of closed network connection`},
		{"timed out", timeout, 1006, "", false, `websocket closed: 1006 (abnormal closure): read tcp: i/o timeout`},
		{"the peer silent", silent, 1006, "", false, `websocket closed: 1006 (abnormal closure): no pong within 1s`},
		{"read limit", websocket.ErrReadLimit, 1009, "message too big", true, `websocket closed: 1009 (message too big) "message too big"`},
		{"protocol violation", errors.New("websocket: bad opcode 3"), 1002, "bad opcode 3", true, `websocket closed: 1002 (protocol error) "bad opcode 3"`},
	}
	for _, tt := range tests {
		ce, fail := classifyReadError(tt.err)
		got := []any{ce.Code, ce.Reason, fail, ce.Error()}
		if diff := cmp.Diff([]any{tt.code, tt.reason, tt.fail, tt.text}, got); diff != "" {
			t.Errorf("%s: (-want +got)\n%s", tt.name, diff)
		}
	}
}
