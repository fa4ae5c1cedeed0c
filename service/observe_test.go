package service

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/protocol"
)

// recorder is an Observer that records what it sees and refuses the
// message "refuse" with refusal.
type recorder struct {
	refusal error
	mu      sync.Mutex
	events  []string
}

func (r *recorder) Received(typ protocol.MessageType, size int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "in "+typ.String()+" "+strconv.Itoa(size))
	if size == len("refuse") && r.refusal != nil {
		return r.refusal
	}
	return nil
}

func (r *recorder) Sent(typ protocol.MessageType, size int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "out "+typ.String()+" "+strconv.Itoa(size))
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

func TestObserve(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		refusal    error
		wantCode   protocol.CloseCode
		wantReason string
	}{
		{"close error", &CloseError{Code: 4001, Reason: "not that"}, 4001, "not that"},
		{"plain error", errors.New("quota exceeded"), protocol.ClosePolicyViolation, "quota exceeded"},
		{"unsendable code", &CloseError{Code: protocol.CloseNoStatus, Reason: "x"}, protocol.ClosePolicyViolation, "websocket closed: 1005 (no status received) \"x\""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{refusal: tt.refusal}
			delivered := make(chan string, 10)
			_, addr := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
				c.Observe(rec)
				for {
					typ, data, err := c.Recv(ctx)
					if err != nil {
						return err
					}
					delivered <- string(data)
					if typ == protocol.Binary {
						// Stream the answer back.
						w, err := c.Writer(ctx, protocol.Binary)
						if err != nil {
							return err
						}
						_, _ = w.Write(data[:2])
						_, _ = w.Write(data[2:])
						if err := w.Close(); err != nil {
							return err
						}
						continue
					}
					if err := c.Send(ctx, typ, data); err != nil {
						return err
					}
				}
			})
			c := dial(t, "ws://"+addr+"/", nil)
			ctx := testCtx(t, 5*time.Second)
			if err := c.Send(ctx, protocol.Text, []byte("hello")); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.Recv(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.Send(ctx, protocol.Binary, []byte("abcdefg")); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.Recv(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.Send(ctx, protocol.Text, []byte("refuse")); err != nil {
				t.Fatal(err)
			}
			_, _, err := c.Recv(ctx)
			if code, reason := CloseStatus(err); code != tt.wantCode || reason != tt.wantReason {
				t.Errorf("refused message: %v, want %v %q", err, tt.wantCode, tt.wantReason)
			}
			want := []string{"in text 5", "out text 5", "in binary 7", "out binary 7", "in text 6"}
			if diff := cmp.Diff(want, rec.list()); diff != "" {
				t.Errorf("observed (-want +got):\n%s", diff)
			}
			close(delivered)
			var got []string
			for m := range delivered {
				got = append(got, m)
			}
			if diff := cmp.Diff([]string{"hello", "abcdefg"}, got); diff != "" {
				t.Errorf("delivered (-want +got):\n%s", diff)
			}
		})
	}
}

func TestObserveReader(t *testing.T) {
	t.Parallel()
	rec := &recorder{refusal: errors.New("no")}
	done := make(chan error, 1)
	_, addr := serveFunc(t, Options{}, func(ctx context.Context, c *Conn) error {
		c.Observe(rec)
		_, r, err := c.Reader(ctx)
		if err != nil {
			return err
		}
		_, err = io.ReadAll(r)
		done <- err
		return err
	})
	c := dial(t, "ws://"+addr+"/", nil)
	if err := c.Send(testCtx(t, 5*time.Second), protocol.Text, []byte("refuse")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if code, _ := CloseStatus(err); code != protocol.ClosePolicyViolation {
			t.Errorf("reading a refused message: %v, want the 1008 close", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reader did not finish")
	}
}

func TestResponseHeaderFromMiddleware(t *testing.T) {
	t.Parallel()
	ep := &Endpoint{Handler: HandlerFunc(func(ctx context.Context, c *Conn) error { return nil }), Protocols: []string{"p"}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "abc")
		w.Header().Set("Sec-WebSocket-Protocol", "injected")
		w.Header().Set("Sec-WebSocket-Extensions", "permessage-deflate")
		w.Header().Set("Content-Type", "text/plain")
		ep.ServeHTTP(w, r)
	})
	_, addr := startServer(t, h)
	c := dial(t, "ws://"+addr+"/", &DialOptions{Subprotocols: []string{"p"}})
	resp := c.Response()
	got := map[string][]string{}
	for _, k := range []string{"X-Request-Id", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions", "Content-Type"} {
		if v := resp.Header.Values(k); v != nil {
			got[k] = v
		}
	}
	want := map[string][]string{"X-Request-Id": {"abc"}, "Sec-Websocket-Protocol": {"p"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("101 headers (-want +got):\n%s", diff)
	}
}
