package service

import (
	"io"
	"sync"
)

// chunkSize is the size of the buffer a server connection reads the
// socket into. gorilla's own read buffer is only guardedReadBuffer bytes:
// the chunk is taken from a pool when bytes arrive and given back as soon
// as gorilla has taken them all, so that an idle connection holds no read
// buffer (see waitChunk).
const chunkSize = 4096

// guardedReadBuffer is the size of gorilla's read buffer on a guarded
// connection: enough for a frame header and a small message.
const guardedReadBuffer = 256

var chunkPool = sync.Pool{New: func() any { return new([chunkSize]byte) }}

// readConn reads from the network connection into p, through the chunk.
func (g *frameGuard) readConn(p []byte) (int, error) {
	if len(g.data) == 0 {
		if len(p) >= chunkSize {
			return g.Conn.Read(p) // large reads skip the chunk
		}
		if err := g.fillChunk(); err != nil {
			return 0, err
		}
	}
	n := copy(p, g.data)
	g.data = g.data[n:]
	if len(g.data) == 0 {
		chunkPool.Put(g.chunk)
		g.chunk, g.data = nil, nil
	}
	return n, nil
}

// fillChunk reads what the socket has into a pooled chunk. Where the
// connection exposes its file descriptor, it waits for bytes without
// holding a chunk (waitChunk); otherwise it holds one while it waits.
func (g *frameGuard) fillChunk() error {
	if g.raw.ok() {
		return g.waitChunk()
	}
	b := chunkPool.Get().(*[chunkSize]byte)
	n, err := g.Conn.Read(b[:])
	if n == 0 {
		chunkPool.Put(b)
		if err == nil {
			err = io.ErrNoProgress
		}
		return err
	}
	g.chunk, g.data = b, b[:n]
	return nil
}
