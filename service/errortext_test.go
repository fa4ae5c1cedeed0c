package service

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
)

// addrPattern matches a loopback address with its port, which differs from
// run to run.
var addrPattern = regexp.MustCompile(`127\.0\.0\.1:[0-9]+`)

// serverSees serves one connection with opts, lets peer act on it through a
// raw client, and returns the error the handler's act on the connection
// returned.
func serverSees(t *testing.T, opts Options, act func(ctx context.Context, c *Conn) error, peer func(rc *wstest.Conn)) error {
	t.Helper()
	errc := make(chan error, 1)
	_, addr := serveFunc(t, opts, func(ctx context.Context, c *Conn) error {
		err := act(ctx, c)
		errc <- err
		return err
	})
	rc := rawDial(t, addr)
	peer(rc)
	select {
	case err := <-errc:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the handler saw nothing")
		return nil
	}
}

// recvErr is the act of a handler that receives until an error.
func recvErr(ctx context.Context, c *Conn) error {
	for {
		if _, _, err := c.Recv(ctx); err != nil {
			return err
		}
	}
}

// clientSees dials a hostile server that answers with respond and returns
// the error of Dial, or of the first Recv.
func clientSees(t *testing.T, opts DialOptions, respond func(accept string, req *http.Request) []byte) error {
	t.Helper()
	srv := startHostile(t, respond)
	c, _, err := Dial(testCtx(t, 5*time.Second), "ws://"+srv.addr+"/", &opts)
	if err != nil {
		return err
	}
	_, _, err = c.Recv(testCtx(t, 5*time.Second))
	return err
}

// TestErrorTexts checks the text of every kind of error a user sees from a
// connection, a Dial or a Server: each fact stated once, none repeated by
// a wrapped cause.
func TestErrorTexts(t *testing.T) {
	t.Parallel()
	frame := func(op byte, rsv byte, p string) wstest.Frame {
		return wstest.Frame{Fin: true, RSV: rsv, Opcode: op, Payload: []byte(p)}
	}
	write := func(fs ...wstest.Frame) func(rc *wstest.Conn) {
		return func(rc *wstest.Conn) {
			for _, f := range fs {
				_ = rc.WriteFrame(f)
			}
		}
	}
	tests := []struct {
		name string
		err  func(t *testing.T) error
		want string
	}{
		{"peer vanished", func(t *testing.T) error {
			return serverSees(t, Options{}, recvErr, func(rc *wstest.Conn) { rc.Close() })
		}, `websocket closed: 1006 (abnormal closure): unexpected EOF`},
		{"peer closed", func(t *testing.T) error {
			return serverSees(t, Options{}, recvErr, func(rc *wstest.Conn) { _ = rc.WriteClose(1000, "bye") })
		}, `websocket closed: 1000 (normal closure) "bye"`},
		{"peer closed without a status", func(t *testing.T) error {
			return serverSees(t, Options{}, recvErr, write(frame(wstest.OpClose, 0, "")))
		}, `websocket closed: 1005 (no status received)`},
		{"message over the read limit", func(t *testing.T) error {
			return serverSees(t, Options{ReadLimit: 100}, recvErr, write(frame(wstest.OpText, 0, strings.Repeat("x", 4096))))
		}, `websocket closed: 1009 (message too big) "message too big: 4096 bytes, limit 100"`},
		{"invalid UTF-8", func(t *testing.T) error {
			return serverSees(t, Options{}, recvErr, write(frame(wstest.OpText, 0, "ok\xc3\x28")))
		}, `websocket closed: 1007 (invalid payload data) "invalid UTF-8 in text message"`},
		{"reserved opcode", func(t *testing.T) error {
			return serverSees(t, Options{}, recvErr, write(frame(0x3, 0, "")))
		}, `websocket closed: 1002 (protocol error) "reserved opcode 3"`},
		{"reserved bits", func(t *testing.T) error {
			return serverSees(t, Options{}, recvErr, write(frame(wstest.OpText, 2, "x")))
		}, `websocket closed: 1002 (protocol error) "RSV2 or RSV3 set"`},
		{"continuation without a start", func(t *testing.T) error {
			return serverSees(t, Options{}, recvErr, write(frame(wstest.OpContinuation, 0, "x")))
		}, `websocket closed: 1002 (protocol error) "continuation after FIN"`},
		{"keepalive unanswered", func(t *testing.T) error {
			return serverSees(t, Options{PingInterval: 50 * time.Millisecond, PongTimeout: 50 * time.Millisecond}, recvErr, func(*wstest.Conn) {})
		}, `websocket closed: 1006 (abnormal closure): no pong within 50ms`},
		{"send after the peer closed", func(t *testing.T) error {
			return serverSees(t, Options{}, func(ctx context.Context, c *Conn) error {
				_ = recvErr(ctx, c)
				return c.Send(context.Background(), protocol.Text, []byte("late"))
			}, func(rc *wstest.Conn) { _ = rc.WriteClose(1001, "leaving") })
		}, `websocket closed: 1001 (going away) "leaving"`},
		{"send with a cancelled context", func(t *testing.T) error {
			return serverSees(t, Options{}, func(ctx context.Context, c *Conn) error {
				cctx, cancel := context.WithCancel(ctx)
				cancel()
				return c.Send(cctx, protocol.Text, []byte("x"))
			}, func(*wstest.Conn) {})
		}, `context canceled`},
		{"receive after CloseRead", func(t *testing.T) error {
			return serverSees(t, Options{}, func(ctx context.Context, c *Conn) error {
				c.CloseRead()
				_, _, err := c.Recv(ctx)
				return err
			}, func(*wstest.Conn) {})
		}, `service: reading closed by CloseRead`},
		{"invalid message type", func(t *testing.T) error {
			return serverSees(t, Options{}, func(ctx context.Context, c *Conn) error {
				return c.Send(ctx, protocol.MessageType(9), nil)
			}, func(*wstest.Conn) {})
		}, `service: Send: invalid message type MessageType(9)`},
		{"close code that may not be sent", func(t *testing.T) error {
			return serverSees(t, Options{}, func(ctx context.Context, c *Conn) error {
				return c.Close(protocol.CloseAbnormal, "")
			}, func(*wstest.Conn) {})
		}, `service: close code 1006 (abnormal closure) may not be sent`},
		{"write timeout", func(t *testing.T) error {
			return serverSees(t, Options{WriteTimeout: 100 * time.Millisecond}, func(ctx context.Context, c *Conn) error {
				big := make([]byte, 1<<20)
				for range 64 {
					if err := c.Send(ctx, protocol.Binary, big); err != nil {
						return err
					}
				}
				return nil
			}, func(*wstest.Conn) {})
		}, `service: write: writev tcp ADDR->ADDR: i/o timeout`},
		{"send interrupted by its context", func(t *testing.T) error {
			return serverSees(t, Options{}, func(ctx context.Context, c *Conn) error {
				sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
				defer cancel()
				big := make([]byte, 1<<20)
				for range 64 {
					if err := c.Send(sctx, protocol.Binary, big); err != nil {
						return err
					}
				}
				return nil
			}, func(*wstest.Conn) {})
		}, `service: write interrupted: context deadline exceeded`},
		{"server vanished", func(t *testing.T) error {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			go func() {
				nc, err := l.Accept()
				if err != nil {
					return
				}
				defer nc.Close()
				req, err := http.ReadRequest(bufio.NewReader(nc))
				if err != nil {
					return
				}
				_, _ = nc.Write(response(acceptKey(req.Header.Get("Sec-WebSocket-Key"))))
			}()
			c, _, err := Dial(testCtx(t, 5*time.Second), "ws://"+l.Addr().String()+"/", nil)
			if err != nil {
				return err
			}
			_, _, err = c.Recv(testCtx(t, 5*time.Second))
			return err
		}, `websocket closed: 1006 (abnormal closure): unexpected EOF`},
		{"close unanswered", func(t *testing.T) error {
			return serverSees(t, Options{CloseTimeout: 100 * time.Millisecond}, func(ctx context.Context, c *Conn) error {
				if err := c.Close(protocol.CloseNormal, "done"); err != nil {
					return err
				}
				return c.Err()
			}, func(*wstest.Conn) {})
		}, `websocket closed: 1006 (abnormal closure): no close frame within 100ms`},
		{"masked server frame", func(t *testing.T) error {
			return clientSees(t, DialOptions{}, func(a string, _ *http.Request) []byte {
				return append(response(a), wstest.Encode(frame(wstest.OpText, 0, "hi"))...)
			})
		}, `websocket closed: 1002 (protocol error) "masked frame from a server"`},
		{"protocol not offered", func(t *testing.T) error {
			return clientSees(t, DialOptions{Subprotocols: []string{"good"}}, func(a string, _ *http.Request) []byte {
				return response(a, "Sec-WebSocket-Protocol: evil")
			})
		}, `service: server chose a subprotocol that was not offered: "evil" (offered ["good"])`},
		{"extension not offered", func(t *testing.T) error {
			return clientSees(t, DialOptions{}, func(a string, _ *http.Request) []byte {
				return response(a, "Sec-WebSocket-Extensions: permessage-deflate")
			})
		}, `service: server chose an extension that was not offered: "permessage-deflate"`},
		{"bad accept key", func(t *testing.T) error {
			return clientSees(t, DialOptions{}, func(string, *http.Request) []byte { return response("dGhlIHNhbXBsZSBub25jZQ==") })
		}, `service: bad handshake from ws://ADDR/: the 101 response is not a WebSocket handshake (its Upgrade, Connection or Sec-WebSocket-Accept header is wrong)`},
		{"refused", func(t *testing.T) error {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, `origin "https://evil.example" is not allowed`, http.StatusForbidden)
			}))
			t.Cleanup(srv.Close)
			_, _, err := Dial(testCtx(t, 5*time.Second), "ws"+strings.TrimPrefix(srv.URL, "http")+"/chat?token=secret", nil)
			return err
		}, `service: handshake refused by ws://ADDR/chat: 403 Forbidden: origin "https://evil.example" is not allowed`},
		{"connection refused", func(t *testing.T) error {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := l.Addr().String()
			l.Close()
			_, _, err = Dial(testCtx(t, 5*time.Second), "ws://"+addr+"/x", nil)
			return err
		}, `service: Dial ws://ADDR/x: dial tcp ADDR: connect: connection refused`},
		{"scheme", func(t *testing.T) error {
			_, _, err := Dial(context.Background(), "http://127.0.0.1:1/x", nil)
			return err
		}, `service: Dial http://ADDR/x: scheme must be ws or wss`},
		{"handshake timeout", func(t *testing.T) error {
			return clientSees(t, DialOptions{Options: &Options{HandshakeTimeout: 100 * time.Millisecond}}, func(string, *http.Request) []byte {
				return []byte("HTTP/1.1 101 Switching Protocols\r\n")
			})
		}, `service: Dial ws://ADDR/: read tcp ADDR->ADDR: i/o timeout`},
		{"shutdown with a handler still running", func(t *testing.T) error {
			stuck := make(chan struct{})
			defer close(stuck)
			s, addr := startServer(t, &Endpoint{Handler: HandlerFunc(func(ctx context.Context, c *Conn) error {
				<-stuck
				return nil
			})})
			dial(t, "ws://"+addr+"/", nil)
			wstest.WaitFor(t, 5*time.Second, "the connection", func() bool { return s.Len() == 1 })
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			return s.Shutdown(ctx)
		}, `service: shutdown: 1 WebSocket handlers still running: context deadline exceeded`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.err(t)
			if err == nil {
				t.Fatal("no error")
			}
			if got := addrPattern.ReplaceAllString(err.Error(), "ADDR"); got != tt.want {
				t.Errorf("error text\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}
