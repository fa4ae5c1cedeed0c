package service

import (
	"bufio"
	"net"
	"net/http"

	"github.com/wsmap/wsmap/service/internal/wire"
)

// guardWriter hands gorilla, when it hijacks the connection, a frame
// guard (wire.Guard) in place of the network connection, which refuses
// what a client may not send before gorilla reads it.
type guardWriter struct {
	http.ResponseWriter
	limit      int64
	compressed bool // permessage-deflate is being negotiated
}

// Hijack takes over the connection from the HTTP server. Bytes the server
// read beyond the request go to the guard first.
func (w *guardWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, pending, err := hijack(w.ResponseWriter)
	if err != nil {
		return nil, nil, err
	}
	g := wire.NewGuard(nc, pending, wire.FromClient)
	g.Configure(w.limit, w.compressed)
	// The server's reader, now empty, is left behind: gorilla reads
	// through a small reader of its own over the guard.
	brw.Reader.Reset(g)
	return g, brw, nil
}

// hijack takes over w's connection, through the ResponseWriters it wraps
// (as http.ResponseController does), and returns with it a copy of the
// bytes the server read beyond the request, which are the client's first
// frames.
func hijack(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, []byte, error) {
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, nil, nil, err
	}
	var pending []byte
	if brw != nil && brw.Reader != nil {
		if n := brw.Reader.Buffered(); n > 0 {
			buffered, _ := brw.Reader.Peek(n)
			pending = append([]byte(nil), buffered...)
		}
	}
	return nc, brw, pending, nil
}

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (w *guardWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wireLimit is the limit gorilla and the guard apply to a message's bytes
// on the wire.
func wireLimit(opts Options, compressed bool) int64 {
	switch {
	case opts.ReadLimit < 0:
		return 0
	case compressed:
		// The message reader enforces the limit on the decompressed
		// message. This wire limit only refuses frames that could never
		// decompress within it.
		return opts.ReadLimit + opts.ReadLimit/8 + 1024
	}
	return opts.ReadLimit
}
