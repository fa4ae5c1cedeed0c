package wire

import (
	"io"
	"sync"
)

// ChunkSize is the size of the pooled buffers a Guard reads the socket
// into and a Writer builds frames in. A Guard takes a chunk when bytes
// arrive and gives it back as soon as its reader has taken them all, so
// that an idle connection holds no read buffer.
const ChunkSize = 4096

// ReadBufferSize is the size to give gorilla's read buffer over a Guard:
// enough for a frame header and a small message, the Guard's chunk
// holding the rest.
const ReadBufferSize = 256

// BigChunkSize is the size of the buffer a Guard reads the socket into
// when its last read filled the buffer it had: the socket holds more than
// a chunk (a large message arriving in many frames, or many messages), so
// that a read takes what one syscall can instead of a chunk at a time.
const BigChunkSize = 64 << 10

// A Chunk is a pooled buffer of ChunkSize bytes.
type Chunk = [ChunkSize]byte

// bigChunk is a pooled buffer of BigChunkSize bytes.
type bigChunk = [BigChunkSize]byte

var (
	chunkPool    = sync.Pool{New: func() any { return new(Chunk) }}
	bigChunkPool = sync.Pool{New: func() any { return new(bigChunk) }}
)

// GetChunk takes a chunk from the pool; PutChunk gives it back.
func GetChunk() *Chunk { return chunkPool.Get().(*Chunk) }

// PutChunk gives a chunk back to the pool.
func PutChunk(b *Chunk) { chunkPool.Put(b) }

// takeBuf takes a pooled buffer to read the socket into: a big chunk if
// the last read filled its buffer, else a chunk.
func (g *Guard) takeBuf() []byte {
	if g.full {
		return bigChunkPool.Get().(*bigChunk)[:]
	}
	return GetChunk()[:]
}

// putBuf gives a buffer from takeBuf back to its pool.
func putBuf(b []byte) {
	if len(b) == BigChunkSize {
		bigChunkPool.Put((*bigChunk)(b))
	} else {
		PutChunk((*Chunk)(b))
	}
}

// readConn reads from the network connection into p, through the chunk.
func (g *Guard) readConn(p []byte) (int, error) {
	if len(g.data) == 0 {
		if len(p) >= ChunkSize {
			// Large reads skip the chunk.
			n, err := g.Conn.Read(p)
			g.full = n == len(p)
			return n, err
		}
		if err := g.fillChunk(); err != nil {
			return 0, err
		}
	}
	n := copy(p, g.data)
	g.data = g.data[n:]
	if len(g.data) == 0 {
		putBuf(g.chunk)
		g.chunk, g.data = nil, nil
	}
	return n, nil
}

// fillChunk reads what the socket has into a pooled chunk. Where the
// connection exposes its file descriptor, it waits for bytes without
// holding a chunk (waitChunk); otherwise it holds one while it waits.
func (g *Guard) fillChunk() error {
	if g.raw.ok() {
		return g.waitChunk()
	}
	b := g.takeBuf()
	n, err := g.Conn.Read(b)
	if n == 0 {
		putBuf(b)
		if err == nil {
			err = io.ErrNoProgress
		}
		return err
	}
	g.full = n == len(b)
	g.chunk, g.data = b, b[:n]
	return nil
}
