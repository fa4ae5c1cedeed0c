package wire

import (
	"crypto/rand"
	"encoding/binary"
)

// Opcode is a frame's opcode (RFC 6455 section 5.2).
type Opcode byte

// The opcodes of data and control frames. OpText and OpBinary have the
// values of protocol.Text and protocol.Binary.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xa
)

// MaxHeaderLen is the length of the longest frame header: two bytes, an
// extended length of eight and a masking key of four.
const MaxHeaderLen = 14

// MaxControlPayload is the longest payload of a control frame (RFC 6455
// section 5.5).
const MaxControlPayload = 125

const (
	finBit  = 0x80
	maskBit = 0x80
)

// headerLen is the length of the header of a frame with an n-byte
// payload, masked or not.
func headerLen(n int, masked bool) int {
	h := 2
	switch {
	case n > 0xffff:
		h += 8
	case n > 125:
		h += 2
	}
	if masked {
		h += 4
	}
	return h
}

// putHeader writes at the start of b the header of a frame whose first
// byte is b0 and whose payload is n bytes, with key as its masking key if
// masked, and returns its length. b has room for it.
func putHeader(b []byte, b0 byte, n int, masked bool, key [4]byte) int {
	b[0] = b0
	var m byte
	if masked {
		m = maskBit
	}
	h := 2
	switch {
	case n > 0xffff:
		b[1] = m | 127
		binary.BigEndian.PutUint64(b[2:10], uint64(n))
		h = 10
	case n > 125:
		b[1] = m | 126
		binary.BigEndian.PutUint16(b[2:4], uint16(n))
		h = 4
	default:
		b[1] = m | byte(n)
	}
	if masked {
		h += copy(b[h:h+4], key[:])
	}
	return h
}

// newKey returns a fresh masking key. RFC 6455 section 5.3 asks that a
// client's keys be unpredictable, each frame's drawn anew from a strong
// source of entropy: crypto/rand, which does not fail.
func newKey() [4]byte {
	var k [4]byte
	_, _ = rand.Read(k[:])
	return k
}

// maskAt masks (or unmasks) b, the payload bytes from offset pos on,
// with key: byte i of the payload is XORed with key[i%4].
func maskAt(key [4]byte, pos int, b []byte) {
	if s := pos & 3; s != 0 {
		key = [4]byte{key[s], key[(s+1)&3], key[(s+2)&3], key[(s+3)&3]}
	}
	k := uint64(binary.LittleEndian.Uint32(key[:]))
	k |= k << 32
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= key[i&3]
	}
}

// putFrame writes at the start of b a frame whose first byte is b0 and
// whose payload is p, masked with a fresh key if masked, and returns its
// length. b has room for it (headerLen(len(p), masked) + len(p)).
func putFrame(b []byte, b0 byte, p []byte, masked bool) int {
	if !masked {
		h := putHeader(b, b0, len(p), false, [4]byte{})
		return h + copy(b[h:], p)
	}
	key := newKey()
	h := putHeader(b, b0, len(p), true, key)
	n := copy(b[h:], p)
	maskAt(key, 0, b[h:h+n])
	return h + n
}
