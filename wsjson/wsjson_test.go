package wsjson_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
	"github.com/wsmap/wsmap/wsjson"
	"github.com/wsmap/wsmap/wsmaptest"
)

// TestSendRecv sends a value each way and checks what a message Recv
// cannot use gives: a *service.MessageError with its code and reason,
// the connection still open for the next message.
func TestSendRecv(t *testing.T) {
	t.Parallel()
	server, client := wsmaptest.Pair(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	type point struct{ X, Y int }
	if err := wsjson.Send(ctx, client, point{1, 2}); err != nil {
		t.Fatal(err)
	}
	var got point
	if err := wsjson.Recv(ctx, server, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(point{1, 2}, got); diff != "" {
		t.Errorf("received (-want +got):\n%s", diff)
	}

	type outcome struct {
		Code   protocol.CloseCode
		Reason string
		Syntax bool // wraps a *json.SyntaxError
	}
	tests := []struct {
		name string
		typ  protocol.MessageType
		data string
		want outcome
	}{
		{"malformed", protocol.Text, "{not json", outcome{protocol.CloseInvalidPayload, "invalid JSON: invalid character 'n' looking for beginning of object key string", true}},
		{"wrong type", protocol.Text, `{"X": "one"}`, outcome{protocol.CloseInvalidPayload, "invalid JSON: json: cannot unmarshal string into Go struct field point.X of type int", false}},
		{"binary", protocol.Binary, "{}", outcome{protocol.CloseUnsupportedData, "got a binary message, want JSON text", false}},
		{"cut short", protocol.Text, `{"X": 1`, outcome{protocol.CloseInvalidPayload, "invalid JSON: unexpected end of JSON input", true}},
	}
	for _, tt := range tests {
		if err := client.Send(ctx, tt.typ, []byte(tt.data)); err != nil {
			t.Fatal(err)
		}
		err := wsjson.Recv(ctx, server, &got)
		var me *service.MessageError
		if !errors.As(err, &me) {
			t.Fatalf("%s: %v, want a *service.MessageError", tt.name, err)
		}
		var se *json.SyntaxError
		if diff := cmp.Diff(tt.want, outcome{me.Code, me.Reason, errors.As(err, &se)}); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
		if want := "service: " + tt.want.Reason; err.Error() != want {
			t.Errorf("%s: error %q, want %q", tt.name, err, want)
		}
	}
	// The connection is still open.
	if err := wsjson.Send(ctx, client, point{3, 4}); err != nil {
		t.Fatal(err)
	}
	if err := wsjson.Recv(ctx, server, &got); err != nil || got != (point{3, 4}) {
		t.Errorf("after the errors: %+v, %v; want {3 4}", got, err)
	}
	if err := wsjson.Send(ctx, client, func() {}); err == nil || !strings.HasPrefix(err.Error(), "wsjson: Send: ") {
		t.Errorf("Send of a func: %v, want an encoding error", err)
	}
}

// TestMessageErrorCloses checks that a handler returning Recv's error
// closes the connection as the peer's fault, with the error's code and
// reason.
func TestMessageErrorCloses(t *testing.T) {
	t.Parallel()
	c := wsmaptest.Connect(t, service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		var v struct{ N int }
		return fmt.Errorf("handler: %w", wsjson.Recv(ctx, c, &v))
	}), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Send(ctx, protocol.Binary, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Recv(ctx)
	if code, reason := service.CloseStatus(err); code != protocol.CloseUnsupportedData || reason != "got a binary message, want JSON text" {
		t.Errorf("closed with %v, want 1003 saying the message was binary", err)
	}
}
