package natstransport

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/wsmap/wsmap/protocol"
)

// The wire format of what a Transport publishes. Every message starts
// with the format's version and the message's kind, then the publishing
// process's ID; the rest depends on the kind:
//
//	message  type (1 byte), sender's member ID, payload (the rest)
//	joined   member ID, metadata count, then each key and value
//	left     member ID
//	hello    nothing
//	gone     nothing
//	alive    nothing
//	bye      nothing
//
// A string is its length as a uvarint, then its bytes. Room subjects
// carry message, joined, left, hello and gone; the process subject
// carries alive and bye.
const wireVersion = 1

// kind says what a wire message is.
type kind byte

const (
	// kindMessage is a broadcast.
	kindMessage kind = iota + 1
	// kindJoined says a member joined (or is announced again).
	kindJoined
	// kindLeft says a member left.
	kindLeft
	// kindHello says the publisher attached (or attached again) to the
	// room: forget its members and announce yours.
	kindHello
	// kindGone says the publisher detached from the room: forget its
	// members there.
	kindGone
	// kindAlive is a process's heartbeat.
	kindAlive
	// kindBye says a process is closing its transport: forget all its
	// members.
	kindBye
)

func (k kind) String() string {
	switch k {
	case kindMessage:
		return "message"
	case kindJoined:
		return "joined"
	case kindLeft:
		return "left"
	case kindHello:
		return "hello"
	case kindGone:
		return "gone"
	case kindAlive:
		return "alive"
	case kindBye:
		return "bye"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// ErrMalformed is reported (through Options.OnError) for a message on a
// Transport's subjects that it cannot read; the message is dropped.
var ErrMalformed = errors.New("natstransport: malformed message")

// envelope is one wire message, decoded.
type envelope struct {
	kind   kind
	origin string // the publishing process's ID
	member string // message: the sender ("" for the server); joined, left: the member
	meta   map[string]string
	typ    protocol.MessageType
	data   []byte
}

// appendEnvelope appends e's encoding to b.
func appendEnvelope(b []byte, e *envelope) []byte {
	b = append(b, wireVersion, byte(e.kind))
	b = appendString(b, e.origin)
	switch e.kind {
	case kindMessage:
		b = append(b, byte(e.typ))
		b = appendString(b, e.member)
		b = append(b, e.data...)
	case kindJoined:
		b = appendString(b, e.member)
		b = binary.AppendUvarint(b, uint64(len(e.meta)))
		for k, v := range e.meta {
			b = appendString(b, k)
			b = appendString(b, v)
		}
	case kindLeft:
		b = appendString(b, e.member)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// parseEnvelope decodes a wire message. A message's payload aliases b.
func parseEnvelope(b []byte) (envelope, error) {
	var e envelope
	if len(b) < 2 {
		return e, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	if b[0] != wireVersion {
		return e, fmt.Errorf("%w: version %d, want %d", ErrMalformed, b[0], wireVersion)
	}
	e.kind = kind(b[1])
	r := reader{b: b[2:]}
	e.origin = r.string()
	switch e.kind {
	case kindMessage:
		e.typ = protocol.MessageType(r.byte())
		e.member = r.string()
		if r.err == nil && !e.typ.Valid() {
			return e, fmt.Errorf("%w: message type %d", ErrMalformed, e.typ)
		}
		e.data = r.rest()
	case kindJoined:
		e.member = r.string()
		n := r.uvarint()
		// Each entry takes at least two bytes: a count beyond that is a
		// lie, refused before anything is allocated for it.
		if n > uint64(len(r.b))/2 {
			return e, fmt.Errorf("%w: %d metadata entries in %d bytes", ErrMalformed, n, len(r.b))
		}
		if n > 0 {
			e.meta = make(map[string]string, n)
		}
		for range n {
			k := r.string()
			if _, dup := e.meta[k]; dup && r.err == nil {
				return e, fmt.Errorf("%w: joined: metadata key %q given twice", ErrMalformed, k)
			}
			e.meta[k] = r.string()
		}
	case kindLeft:
		e.member = r.string()
	case kindHello, kindGone, kindAlive, kindBye:
	default:
		return e, fmt.Errorf("%w: unknown kind %d", ErrMalformed, byte(e.kind))
	}
	if r.err != nil {
		return e, fmt.Errorf("%w: %s: %v", ErrMalformed, e.kind, r.err)
	}
	if len(r.b) > 0 {
		return e, fmt.Errorf("%w: %s: %d bytes left over", ErrMalformed, e.kind, len(r.b))
	}
	if e.origin == "" {
		return e, fmt.Errorf("%w: %s: no origin", ErrMalformed, e.kind)
	}
	return e, nil
}

// reader reads a wire message's fields; the first error sticks and
// every later read returns zero values.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail(errShort)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errors.New("bad length"))
		return 0
	}
	// One value, one encoding: a length padded with 0x80 bytes is
	// refused, so that what is read encodes back to the same bytes.
	if n > 1 && r.b[n-1] == 0 {
		r.fail(errors.New("non-minimal length"))
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.fail(errShort)
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) rest() []byte {
	if r.err != nil {
		return nil
	}
	b := r.b
	r.b = nil
	if len(b) == 0 {
		return nil
	}
	return b
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}
