//go:build !unix

package service

import "net"

// rawWriter is only used where file descriptors can be written directly.
type rawWriter struct{}

func (w *rawWriter) init(net.Conn) bool { return false }

func (w *rawWriter) write([]byte) int { panic("unreachable") }
