package service

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/protocol"
)

func TestEvents(t *testing.T) {
	t.Parallel()
	log := make(chan string, 10)
	url, _ := serve(t, &Endpoint{Handler: &Events{
		OnOpen: func(ctx context.Context, c *Conn) error {
			log <- "open"
			return c.Send(ctx, protocol.Text, []byte("welcome"))
		},
		OnMessage: func(ctx context.Context, c *Conn, typ protocol.MessageType, data []byte) error {
			log <- "message " + string(data)
			if string(data) == "fail" {
				return errors.New("bad request")
			}
			return c.Send(ctx, typ, []byte(strings.ToUpper(string(data))))
		},
		OnError: func(c *Conn, err error) { log <- "error " + err.Error() },
		OnClose: func(c *Conn, code protocol.CloseCode, reason string) {
			log <- "close " + code.String() + " " + reason
			close(log)
		},
	}})
	c := dial(t, url, nil)
	ctx := testCtx(t, 5*time.Second)
	var got []string
	_, msg, _ := c.Recv(ctx)
	got = append(got, string(msg))
	_ = c.Send(ctx, protocol.Text, []byte("hello"))
	_, msg, _ = c.Recv(ctx)
	got = append(got, string(msg))
	_ = c.Send(ctx, protocol.Text, []byte("fail"))
	_, _, err := c.Recv(ctx)
	code, _ := CloseStatus(err)
	got = append(got, code.String())
	for l := range log {
		got = append(got, l)
	}
	want := []string{"welcome", "HELLO", "1011 (internal error)",
		"open", "message hello", "message fail", "error bad request", "close 1011 (internal error) internal error"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestEventsPeerClose(t *testing.T) {
	t.Parallel()
	closed := make(chan string, 1)
	url, _ := serve(t, &Endpoint{Handler: &Events{
		OnError: func(c *Conn, err error) { t.Errorf("OnError(%v) for a clean close", err) },
		OnClose: func(c *Conn, code protocol.CloseCode, reason string) { closed <- code.String() + " " + reason },
	}})
	c := dial(t, url, nil)
	_ = c.Close(4100, "client done")
	if got := <-closed; got != "4100 (private use) client done" {
		t.Errorf("OnClose got %q", got)
	}
}
