// Package wstest holds helpers for testing WebSocket servers at the byte
// level: a raw client that performs the opening handshake by hand and
// then reads and writes individual frames, valid or not.
package wstest

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Opcodes of RFC 6455 section 5.2.
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

// Frame is one WebSocket frame as it travels on the wire.
type Frame struct {
	Fin     bool
	RSV     byte // the three reserved bits, in the low bits
	Opcode  byte
	Payload []byte
}

// CloseCode returns the code of a close frame's payload, 1005 if it has
// none.
func (f Frame) CloseCode() int {
	if len(f.Payload) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(f.Payload))
}

// CloseReason returns the reason of a close frame's payload.
func (f Frame) CloseReason() string {
	if len(f.Payload) < 2 {
		return ""
	}
	return string(f.Payload[2:])
}

// Conn is a raw client connection.
type Conn struct {
	net.Conn
	br      *bufio.Reader
	scratch [8]byte // SkipFrame's header
	// Resp is the server's handshake response.
	Resp *http.Response
}

// NewConn wraps a connection whose handshake was done by other means;
// br holds what was read of it beyond the handshake.
func NewConn(nc net.Conn, br *bufio.Reader) *Conn {
	return &Conn{Conn: nc, br: br}
}

// Dial connects to addr (host:port) and performs the opening handshake for
// path with the extra headers given (each "Name: value"). It fails unless
// the server answers 101.
func Dial(addr, path string, headers ...string) (*Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c, err := Handshake(nc, addr, path, headers...)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if c.Resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		return nil, fmt.Errorf("wstest: handshake answered %s", c.Resp.Status)
	}
	return c, nil
}

// Handshake sends an upgrade request on nc and reads the response,
// whatever its status.
func Handshake(nc net.Conn, host, path string, headers ...string) (*Conn, error) {
	var key [16]byte
	_, _ = rand.Read(key[:])
	k := base64.StdEncoding.EncodeToString(key[:])
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n", path, host, k)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	defer nc.SetDeadline(time.Time{})
	if _, err := io.WriteString(nc, b.String()); err != nil {
		return nil, err
	}
	c := &Conn{Conn: nc, br: bufio.NewReader(nc)}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return nil, err
	}
	c.Resp = resp
	if resp.StatusCode == http.StatusSwitchingProtocols {
		h := sha1.Sum([]byte(k + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		if got := resp.Header.Get("Sec-WebSocket-Accept"); got != base64.StdEncoding.EncodeToString(h[:]) {
			return nil, fmt.Errorf("wstest: bad Sec-WebSocket-Accept %q", got)
		}
	}
	return c, nil
}

// Encode returns the wire form of f, masked as a client must.
func Encode(f Frame) []byte {
	return EncodeLen(f, uint64(len(f.Payload)), true)
}

// EncodeAll returns the wire form of the frames one after another,
// masked.
func EncodeAll(fs ...Frame) []byte {
	var b []byte
	for _, f := range fs {
		b = append(b, Encode(f)...)
	}
	return b
}

// EncodeLen returns the wire form of f declaring length n (which may
// differ from the payload's, to test lies), masked or not.
func EncodeLen(f Frame, n uint64, masked bool) []byte {
	b0 := f.Opcode&0xF | (f.RSV&7)<<4
	if f.Fin {
		b0 |= 0x80
	}
	out := []byte{b0, 0}
	switch {
	case n <= 125:
		out[1] = byte(n)
	case n <= 0xFFFF:
		out[1] = 126
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out[1] = 127
		out = binary.BigEndian.AppendUint64(out, n)
	}
	if !masked {
		return append(out, f.Payload...)
	}
	out[1] |= 0x80
	var key [4]byte
	_, _ = rand.Read(key[:])
	out = append(out, key[:]...)
	start := len(out)
	out = append(out, f.Payload...)
	for i := range f.Payload {
		out[start+i] ^= key[i%4]
	}
	return out
}

// SkipFrame reads one frame and discards its payload without holding it,
// returning its opcode: for benchmarks that count messages without
// allocating.
func (c *Conn) SkipFrame() (byte, error) {
	hdr := c.scratch[:]
	if _, err := io.ReadFull(c.br, hdr[:2]); err != nil {
		return 0, err
	}
	op, masked, n := hdr[0]&0x0f, hdr[1]&0x80 != 0, uint64(hdr[1]&0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(c.br, hdr[:2]); err != nil {
			return 0, err
		}
		n = uint64(binary.BigEndian.Uint16(hdr[:2]))
	case 127:
		if _, err := io.ReadFull(c.br, hdr[:8]); err != nil {
			return 0, err
		}
		n = binary.BigEndian.Uint64(hdr[:8])
	}
	if masked {
		n += 4 // a mask key, which servers do not send
	}
	if _, err := c.br.Discard(int(n)); err != nil {
		return 0, err
	}
	return op, nil
}

// WriteFrame writes f, masked.
func (c *Conn) WriteFrame(f Frame) error {
	_, err := c.Write(Encode(f))
	return err
}

// WriteMessage writes a whole message as one final frame.
func (c *Conn) WriteMessage(opcode byte, payload []byte) error {
	return c.WriteFrame(Frame{Fin: true, Opcode: opcode, Payload: payload})
}

// WriteClose writes a close frame with the given code and reason.
func (c *Conn) WriteClose(code int, reason string) error {
	p := binary.BigEndian.AppendUint16(nil, uint16(code))
	return c.WriteMessage(OpClose, append(p, reason...))
}

// ReadFrame reads one frame, waiting at most d.
func (c *Conn) ReadFrame(d time.Duration) (Frame, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	var hdr [2]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		return Frame{}, err
	}
	f := Frame{Fin: hdr[0]&0x80 != 0, RSV: hdr[0] >> 4 & 7, Opcode: hdr[0] & 0xF}
	if hdr[1]&0x80 != 0 {
		return Frame{}, errors.New("wstest: server sent a masked frame")
	}
	n := uint64(hdr[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return Frame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return Frame{}, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 64<<20 {
		return Frame{}, fmt.Errorf("wstest: frame of %d bytes", n)
	}
	f.Payload = make([]byte, n)
	if _, err := io.ReadFull(c.br, f.Payload); err != nil {
		return Frame{}, err
	}
	return f, nil
}

// ReadMessage reads frames until a whole data message has arrived,
// skipping pings and pongs, and returns its opcode and payload. A close
// frame ends it with an error describing the close.
func (c *Conn) ReadMessage(d time.Duration) (byte, []byte, error) {
	var op byte
	var data []byte
	deadline := time.Now().Add(d)
	for {
		f, err := c.ReadFrame(time.Until(deadline))
		if err != nil {
			return 0, nil, err
		}
		switch f.Opcode {
		case OpPing, OpPong:
			continue
		case OpClose:
			return 0, nil, &CloseReceived{Frame: f}
		case OpText, OpBinary:
			op = f.Opcode
		}
		data = append(data, f.Payload...)
		if f.Fin {
			return op, data, nil
		}
	}
}

// CloseReceived is the error ReadMessage returns on a close frame.
type CloseReceived struct{ Frame Frame }

func (e *CloseReceived) Error() string {
	return fmt.Sprintf("close frame %d %q", e.Frame.CloseCode(), e.Frame.CloseReason())
}

// ExpectClose reads frames until a close frame arrives, skipping any data,
// and returns it. It fails if the connection ends without one.
func (c *Conn) ExpectClose(d time.Duration) (Frame, error) {
	deadline := time.Now().Add(d)
	for {
		f, err := c.ReadFrame(time.Until(deadline))
		if err != nil {
			return Frame{}, fmt.Errorf("wstest: no close frame: %w", err)
		}
		if f.Opcode == OpClose {
			return f, nil
		}
	}
}

// ExpectEOF waits until the server closes the TCP connection, discarding
// anything it sends.
func (c *Conn) ExpectEOF(d time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c.br)
	if err == nil {
		return nil
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("wstest: server did not close the connection: %w", err)
	}
	return nil // a reset also ends it
}

// Request writes the raw HTTP request text req (lines ending in CRLF, the
// blank line included) to a new connection to addr and reads the
// response. When the server switches protocols, the returned Conn carries
// on with frames; otherwise it is closed.
func Request(addr, req string) (*Conn, *http.Response, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, nil, err
	}
	c := &Conn{Conn: nc, br: bufio.NewReader(nc)}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	c.Resp = resp
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		nc.Close()
		return nil, resp, nil
	}
	return c, resp, nil
}

// UpgradeRequest returns the text of a valid upgrade request for target
// (a path and query) on host, with headers appended ("Name: value" each).
// A standard header given as "Name:" with nothing after the colon is
// removed instead.
func UpgradeRequest(method, target, host string, headers ...string) string {
	std := [][2]string{
		{"Host", host},
		{"Upgrade", "websocket"},
		{"Connection", "Upgrade"},
		{"Sec-WebSocket-Version", "13"},
		{"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", method, target)
	var extra []string
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		removed := false
		if strings.TrimSpace(value) == "" {
			for i := range std {
				if strings.EqualFold(std[i][0], name) {
					std[i][0] = ""
					removed = true
				}
			}
		}
		if !removed {
			extra = append(extra, h)
		}
	}
	for _, h := range std {
		if h[0] != "" {
			fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
		}
	}
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}
