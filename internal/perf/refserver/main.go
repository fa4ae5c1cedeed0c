// Command refserver is the REFERENCE side of wsmap's performance
// comparisons: echo servers written without wsmap, which wsmap's own
// server (internal/perf/wsmapserver) is measured against.
//
//	refserver -impl gorilla   the floor wsmap must match: a plain
//	                          gorilla/websocket program, one
//	                          ReadMessage/WriteMessage loop per
//	                          connection, subprotocol "echo" negotiated
//	refserver -impl tcp       the ceiling: the least a WebSocket echo can
//	                          do over TCP, a hand-written frame loop that
//	                          unmasks each frame in a reused buffer and
//	                          writes it back; no checks beyond framing
//	refserver -impl melody    the broadcast reference: one melody
//	                          (github.com/olahol/melody) hub; each
//	                          connection is sent "joined", and every
//	                          message it sends is broadcast to all
//	                          (wsload -mode broadcast)
//	refserver -impl gws       github.com/lxzan/gws, the fastest Go
//	                          library we know of, written as its
//	                          documentation shows: at /room the same
//	                          broadcast as melody's, with one
//	                          gws.Broadcaster per message (framed once,
//	                          queued on each connection's writer); on
//	                          every other path an echo, subprotocol
//	                          "echo" negotiated
//	refserver -impl jsonrpc2  the JSON-RPC reference:
//	                          github.com/sourcegraph/jsonrpc2 over
//	                          gorilla/websocket (a jsonrpc2.Conn over its
//	                          websocket.NewObjectStream), subprotocol
//	                          "jsonrpc" negotiated, serving the methods
//	                          "add" and "echo" (wsload -mode rpc), each
//	                          call on a goroutine of its own
//	                          (jsonrpc2.AsyncHandler)
//	refserver -impl jsonrpc2-inline
//	                          the same with the handler as it is: the
//	                          calls of a connection handled one after
//	                          another on its reading goroutine
//
// All serve every path, print "listening on HOST:PORT" once they accept
// connections, and exit on SIGINT or SIGTERM.
package main

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/gorilla/websocket"
	"github.com/olahol/melody"

	"github.com/wsmap/wsmap/internal/perf/profile"
)

func main() {
	impl := flag.String("impl", "gorilla", "server to run: gorilla, tcp, melody, gws, jsonrpc2 or jsonrpc2-inline")
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	prof := profile.Register(flag.CommandLine)
	flag.Parse()
	defer prof.Start()()
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	fmt.Println("listening on", l.Addr())
	switch *impl {
	case "gorilla":
		err = http.Serve(l, http.HandlerFunc(gorillaEcho))
	case "tcp":
		err = serveTCP(l)
	case "melody":
		err = http.Serve(l, melodyRoom())
	case "gws":
		err = http.Serve(l, gwsServer())
	case "jsonrpc2", "jsonrpc2-inline":
		err = http.Serve(l, jsonrpc2Server(*impl == "jsonrpc2-inline"))
	default:
		log.Fatalf("unknown -impl %q (want gorilla, tcp, melody, gws, jsonrpc2 or jsonrpc2-inline)", *impl)
	}
	if ctx.Err() == nil {
		log.Fatal(err)
	}
}

var upgrader = websocket.Upgrader{Subprotocols: []string{"echo"}}

// melodyRoom is the plain melody broadcast server.
func melodyRoom() http.Handler {
	m := melody.New()
	m.Upgrader.Subprotocols = []string{"echo"}
	m.Config.MessageBufferSize = 1024
	m.HandleConnect(func(s *melody.Session) { _ = s.Write([]byte("joined")) })
	m.HandleMessage(func(_ *melody.Session, msg []byte) { _ = m.Broadcast(msg) })
	m.HandleMessageBinary(func(_ *melody.Session, msg []byte) { _ = m.BroadcastBinary(msg) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _ = m.HandleRequest(w, r) })
}

// gorillaEcho is the plain gorilla/websocket echo handler.
func gorillaEcho(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	for {
		typ, p, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(typ, p); err != nil {
			return
		}
	}
}

func serveTCP(l net.Listener) error {
	for {
		nc, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer nc.Close()
			_ = tcpEcho(nc)
		}()
	}
}

const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// tcpEcho answers the opening handshake, then echoes frames one by one:
// data and continuation frames as they came (unmasked), pings as pongs,
// a close with a close.
func tcpEcho(nc net.Conn) error {
	br := bufio.NewReaderSize(nc, 4096)
	req, err := http.ReadRequest(br)
	if err != nil {
		return err
	}
	sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + acceptGUID))
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\n"
	if req.Header.Get("Sec-WebSocket-Protocol") != "" {
		resp += "Sec-WebSocket-Protocol: echo\r\n"
	}
	if _, err := io.WriteString(nc, resp+"\r\n"); err != nil {
		return err
	}
	var head [14]byte
	var payload []byte
	for {
		if _, err := io.ReadFull(br, head[:2]); err != nil {
			return err
		}
		op, n := head[0]&0x0f, uint64(head[1]&0x7f)
		masked := head[1]&0x80 != 0
		switch n {
		case 126:
			if _, err := io.ReadFull(br, head[2:4]); err != nil {
				return err
			}
			n = uint64(binary.BigEndian.Uint16(head[2:4]))
		case 127:
			if _, err := io.ReadFull(br, head[2:10]); err != nil {
				return err
			}
			n = binary.BigEndian.Uint64(head[2:10])
		}
		if n > 16<<20 || !masked {
			return errors.New("frame refused")
		}
		var key [4]byte
		if _, err := io.ReadFull(br, key[:]); err != nil {
			return err
		}
		if uint64(cap(payload)) < n {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(br, payload); err != nil {
			return err
		}
		for i := range payload {
			payload[i] ^= key[i&3]
		}
		if op == 0x9 { // ping: pong
			op = 0xa
		} else if op == 0xa {
			continue
		}
		h := head[:2]
		h[0] = head[0]&0x80 | op
		switch {
		case n < 126:
			h[1] = byte(n)
		case n <= 0xffff:
			h = head[:4]
			h[1] = 126
			binary.BigEndian.PutUint16(h[2:], uint16(n))
		default:
			h = head[:10]
			h[1] = 127
			binary.BigEndian.PutUint64(h[2:], n)
		}
		bufs := net.Buffers{h, payload}
		if _, err := bufs.WriteTo(nc); err != nil {
			return err
		}
		if op == 0x8 {
			return nil
		}
	}
}
