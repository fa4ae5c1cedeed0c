package service

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service/internal/wire"
)

// acceptGUID is the GUID RFC 6455 section 1.3 appends to the client's key
// to make the server's Sec-WebSocket-Accept.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// responseStart is the 101 response up to the accept value.
const responseStart = "HTTP/1.1 101 Switching Protocols\r\n" +
	"Upgrade: websocket\r\n" +
	"Connection: Upgrade\r\n" +
	"Sec-WebSocket-Accept: "

// acceptLen is the length of a Sec-WebSocket-Accept value: a SHA-1 sum,
// base64-encoded.
const acceptLen = (sha1.Size + 2) / 3 * 4

// ownHeaders are the header fields a 101 response writes itself or must
// not carry, in the form net/http stores them: upgradeConn leaves them out
// of the extra header, and responseHeader out of gorilla's.
var ownHeaders = [...]string{"Upgrade", "Connection", "Sec-Websocket-Accept", "Sec-Websocket-Protocol",
	"Sec-Websocket-Extensions", "Content-Length", "Content-Type", "Transfer-Encoding"}

// upgradeConn completes the opening handshake of a server connection
// without compression: it takes r's connection over from w, answers with
// the 101 response and returns the connection as a frame guard reading
// the client's frames, not yet configured (see wire.Guard.Configure).
//
// r must have passed CheckHandshake. The response carries
// Sec-WebSocket-Protocol when subprotocol is not "", then the fields of
// header (nil for none), sorted by name, each value on a line of its own.
// Fields the response writes itself or must not carry (Upgrade,
// Connection, Sec-WebSocket-Accept, Sec-WebSocket-Protocol,
// Sec-WebSocket-Extensions, Content-Length, Content-Type,
// Transfer-Encoding) and fields whose names are not tokens are left out;
// control characters other than tab in a value are sent as spaces, so that
// no value can end its line.
//
// The connection is taken over as http.ResponseController does: from w,
// or from the ResponseWriter its Unwrap method returns, and so on. When
// none can be taken over, upgradeConn answers 500 with the reason and
// returns the error.
//
// The response is written in one write, with timeout (if positive) as its
// deadline; no deadline is left set on the connection. When the write
// fails, upgradeConn closes the connection and returns the error.
//
// Bytes the client sent behind its request, which the HTTP server has
// read already, are the first the guard gives out.
func upgradeConn(w http.ResponseWriter, r *http.Request, subprotocol string, header http.Header, timeout time.Duration) (*wire.Guard, error) {
	nc, brw, pending, err := hijack(w)
	if err != nil {
		http.Error(w, "hijack: "+err.Error(), http.StatusInternalServerError)
		return nil, fmt.Errorf("hijack: %w", err)
	}

	var key string
	if k := r.Header[headerKeyKey]; len(k) > 0 {
		key = strings.TrimSpace(k[0])
	}
	var names [8]string
	fields, fieldsLen := responseFields(names[:0], header)
	size := responseLen(subprotocol, fieldsLen)
	// The response is built in the server's write buffer, which the
	// server gave up with the connection, when it is large enough.
	var p []byte
	if brw != nil && brw.Writer != nil && brw.Writer.Available() >= size {
		p = brw.Writer.AvailableBuffer()
	} else {
		p = make([]byte, 0, size)
	}
	p = appendResponse(p, key, subprotocol, header, fields)

	if err := writeResponse(nc, p, timeout); err != nil {
		nc.Close()
		return nil, err
	}
	return wire.NewGuard(nc, pending, wire.FromClient), nil
}

// writeResponse writes p to nc with timeout (if positive) as its deadline,
// and leaves nc without deadlines.
func writeResponse(nc net.Conn, p []byte, timeout time.Duration) error {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	if err := nc.SetDeadline(deadline); err != nil {
		return err
	}
	if _, err := nc.Write(p); err != nil {
		return err
	}
	if timeout > 0 {
		return nc.SetDeadline(time.Time{})
	}
	return nil
}

// responseFields appends to names, sorted, the names of header's fields
// that a 101 response of upgradeConn carries, and returns them with the
// bytes their lines take.
func responseFields(names []string, header http.Header) ([]string, int) {
	size := 0
	for k, vs := range header {
		if !extraField(k) {
			continue
		}
		names = append(names, k)
		for _, v := range vs {
			size += len(k) + len(": \r\n") + len(v)
		}
	}
	slices.Sort(names)
	return names, size
}

// responseLen is the length of a 101 response of appendResponse whose
// extra fields take fieldsLen bytes.
func responseLen(subprotocol string, fieldsLen int) int {
	n := len(responseStart) + acceptLen + len("\r\n") + fieldsLen + len("\r\n")
	if subprotocol != "" {
		n += len("Sec-WebSocket-Protocol: \r\n") + len(subprotocol)
	}
	return n
}

// extraField reports whether a field of the extra header, named k, goes
// into the 101 response.
func extraField(k string) bool {
	if !protocol.ValidToken(k) {
		return false
	}
	for _, h := range ownHeaders {
		if len(k) == len(h) && strings.EqualFold(k, h) {
			return false
		}
	}
	return true
}

// appendResponse appends the 101 response to the client's key: the
// upgrade's own fields, Sec-WebSocket-Protocol unless subprotocol is "",
// then the named fields of header, in the order given.
func appendResponse(p []byte, key, subprotocol string, header http.Header, names []string) []byte {
	p = append(p, responseStart...)
	p = appendAccept(p, key)
	p = append(p, "\r\n"...)
	if subprotocol != "" {
		p = append(p, "Sec-WebSocket-Protocol: "...)
		p = appendFieldValue(p, subprotocol)
		p = append(p, "\r\n"...)
	}
	for _, k := range names {
		for _, v := range header[k] {
			p = append(p, k...)
			p = append(p, ": "...)
			p = appendFieldValue(p, v)
			p = append(p, "\r\n"...)
		}
	}
	return append(p, "\r\n"...)
}

// appendAccept appends the Sec-WebSocket-Accept value for the client's key
// (RFC 6455 section 4.2.2): the base64 encoding of the SHA-1 sum of the
// key followed by acceptGUID.
func appendAccept(p []byte, key string) []byte {
	var b [24 + len(acceptGUID)]byte // a valid key has 24 characters
	s := append(append(b[:0], key...), acceptGUID...)
	sum := sha1.Sum(s)
	return base64.StdEncoding.AppendEncode(p, sum[:])
}

// appendFieldValue appends v with its control characters other than tab
// (CR and LF among them) replaced by spaces.
func appendFieldValue(p []byte, v string) []byte {
	start := len(p)
	p = append(p, v...)
	for i := start; i < len(p); i++ {
		if b := p[i]; b < ' ' && b != '\t' || b == 0x7f {
			p[i] = ' '
		}
	}
	return p
}
