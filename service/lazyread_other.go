//go:build !unix

package service

import "net"

// rawReader is only used where file descriptors can be read directly.
type rawReader struct{}

func (r *rawReader) ok() bool { return false }

func (g *frameGuard) setRaw(net.Conn) {}

func (g *frameGuard) waitChunk() error { panic("unreachable") }

func (g *frameGuard) discardBuffered() {}
