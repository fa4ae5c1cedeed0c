// Package wire is the descriptor-level I/O under a service.Conn: the
// frame guard that checks every frame header a peer sends before gorilla
// reads the frame (Guard), the pooled chunks the socket is read into
// (so that an idle connection holds no read buffer), and the frame
// writer that owns the frame lock and writes whole messages as single
// frames, in batches, or without blocking (Writer).
//
// Nothing here knows about messages, contexts or the closing handshake:
// package service builds those on top.
package wire
