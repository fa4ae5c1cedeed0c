// Package wsjson sends and receives JSON values as WebSocket text
// messages over a service.Conn, one value per message.
//
// A message a handler cannot use is reported as a *service.MessageError
// and leaves the connection open, so that the handler decides what to
// do; returning the error closes the connection as the peer's fault,
// with 1003 (unsupported data) for a binary message and 1007 (invalid
// payload data) for text that does not decode.
package wsjson

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// Send encodes v as JSON and sends it as one text message. A value that
// does not encode is an error and sends nothing.
func Send(ctx context.Context, c *service.Conn, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("wsjson: Send: %w", err)
	}
	return c.Send(ctx, protocol.Text, data)
}

// Recv receives a text message and decodes it as JSON into v. The
// connection's errors are returned as Conn.Recv returns them. A message
// Recv cannot use is reported as a *service.MessageError, which wraps the
// decoder's error (such as *json.SyntaxError) and leaves the connection
// open: the next Recv reads the next message. Its reason is cut to fit a
// close frame when a handler returns it.
func Recv(ctx context.Context, c *service.Conn, v any) error {
	typ, data, err := c.Recv(ctx)
	if err != nil {
		return err
	}
	if typ != protocol.Text {
		return &service.MessageError{Code: protocol.CloseUnsupportedData, Reason: "got a " + typ.String() + " message, want JSON text"}
	}
	if err := json.Unmarshal(data, v); err != nil {
		return &service.MessageError{Code: protocol.CloseInvalidPayload, Reason: "invalid JSON: " + err.Error(), Err: err}
	}
	return nil
}
