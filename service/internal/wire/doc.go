// Package wire is the descriptor-level I/O under a service.Conn: the
// frame guard that gorilla reads the connection through, which checks
// the frame headers a peer sends before gorilla reads the frame (Guard);
// the pooled chunks the socket is read into, so that an idle connection
// holds no read buffer; and the frame writer that writes every frame of a
// connection whose frames gorilla does not write (Writer): whole messages
// as single frames, in batches or without blocking, messages written
// piece by piece (Stream), control frames, masked where a client sends
// them.
//
// Nothing here knows about messages, contexts or the closing handshake:
// package service builds those on top. docs/internals.md says who reads
// and who writes which bytes of a connection, and why each part of this
// package exists.
package wire
