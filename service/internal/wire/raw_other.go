//go:build !unix

package wire

import "net"

// rawReader is only used where file descriptors can be read directly.
type rawReader struct{}

func (r *rawReader) init(net.Conn) {}

func (r *rawReader) ok() bool { return false }

func (g *Guard) waitChunk() error { panic("unreachable") }

// DiscardBuffered does nothing where descriptors cannot be read directly.
func (g *Guard) DiscardBuffered() {}

// rawWriter is only used where file descriptors can be written directly.
type rawWriter struct{}

func (w *rawWriter) init(*Guard) {}

func (w *rawWriter) ok() bool { return false }

func (w *rawWriter) write([]byte) int { panic("unreachable") }
