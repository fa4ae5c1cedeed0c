package natstransport

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/protocol"
)

var cmpEnvelope = cmp.AllowUnexported(envelope{})

func TestEnvelopeRoundTrip(t *testing.T) {
	t.Parallel()
	for _, e := range []envelope{
		{kind: kindMessage, origin: "p1", member: "m1", typ: protocol.Text, data: []byte("hello")},
		{kind: kindMessage, origin: "p1", typ: protocol.Binary, data: []byte{0, 1, 2, 255}},
		{kind: kindMessage, origin: "p1", typ: protocol.Text},
		{kind: kindMessage, origin: "p1", typ: protocol.Binary, data: bytes.Repeat([]byte{7}, 70000)},
		{kind: kindJoined, origin: "p2", member: "m2", meta: map[string]string{"nick": "ann", "": "", "k": "v\x00é"}},
		{kind: kindJoined, origin: "p2", member: "m3"},
		{kind: kindLeft, origin: "p2", member: "m2"},
		{kind: kindHello, origin: "p3"},
		{kind: kindGone, origin: "p3"},
		{kind: kindAlive, origin: "p4"},
		{kind: kindBye, origin: "p4"},
	} {
		b := appendEnvelope(nil, &e)
		got, err := parseEnvelope(b)
		if err != nil {
			t.Errorf("%s: %v", e.kind, err)
			continue
		}
		if len(e.data) == 0 {
			e.data = nil
		}
		if diff := cmp.Diff(e, got, cmpEnvelope); diff != "" {
			t.Errorf("%s (-want +got):\n%s", e.kind, diff)
		}
	}
}

func TestParseEnvelopeRefuses(t *testing.T) {
	t.Parallel()
	msg := appendEnvelope(nil, &envelope{kind: kindMessage, origin: "p", member: "m", typ: protocol.Text, data: []byte("x")})
	join := appendEnvelope(nil, &envelope{kind: kindJoined, origin: "p", member: "m", meta: map[string]string{"a": "b"}})
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "0 bytes"},
		{"one byte", []byte{1}, "1 bytes"},
		{"other version", []byte{2, 6, 1, 'p'}, "version 2, want 1"},
		{"unknown kind", []byte{1, 99, 1, 'p'}, "unknown kind 99"},
		{"kind zero", []byte{1, 0, 1, 'p'}, "unknown kind 0"},
		{"no origin", []byte{1, byte(kindAlive), 0}, "alive: no origin"},
		{"origin cut short", []byte{1, byte(kindAlive), 5, 'p'}, "alive: truncated"},
		{"length overflows", []byte{1, byte(kindAlive), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "bad length"},
		{"padded length", []byte{1, byte(kindAlive), 0x81, 0x00, 'p'}, "non-minimal length"},
		{"bytes after alive", []byte{1, byte(kindAlive), 1, 'p', 0}, "alive: 1 bytes left over"},
		{"message type 0", bytes.Replace(msg, []byte{1, 'p', 1}, []byte{1, 'p', 0}, 1), "message type 0"},
		{"message type 9", bytes.Replace(msg, []byte{1, 'p', 1}, []byte{1, 'p', 9}, 1), "message type 9"},
		{"message without type", msg[:4], "message: truncated"},
		{"message without sender", msg[:5], "message: bad length"},
		{"metadata count lies", append(join[:len(join)-5:len(join)-5], 0xff, 0xff, 0x03), "metadata entries"},
		{"metadata key twice", []byte{1, byte(kindJoined), 1, 'p', 1, 'm', 2, 1, 'k', 0, 1, 'k', 0}, `metadata key "k" given twice`},
		{"metadata cut short", join[:len(join)-1], "joined: truncated"},
		{"left without member", []byte{1, byte(kindLeft), 1, 'p'}, "left: bad length"},
	} {
		_, err := parseEnvelope(tc.b)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", tc.name, err)
			continue
		}
		if !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
			t.Errorf("%s: %v, want it to say %q", tc.name, err, tc.want)
		}
	}
}

// FuzzParseEnvelope: any bytes are read or refused, never a panic, and
// what is read encodes back to the same bytes (for metadata, whose order
// is not kept, to bytes that read the same).
func FuzzParseEnvelope(f *testing.F) {
	for _, e := range []envelope{
		{kind: kindMessage, origin: "p1", member: "m1", typ: protocol.Text, data: []byte("hello")},
		{kind: kindJoined, origin: "p2", member: "m2", meta: map[string]string{"nick": "ann", "x": "y"}},
		{kind: kindLeft, origin: "p2", member: "m2"},
		{kind: kindHello, origin: "p3"},
		{kind: kindBye, origin: "p4"},
	} {
		f.Add(appendEnvelope(nil, &e))
	}
	f.Add([]byte{1, 2, 1, 'p', 1, 'm', 0xff, 0xff, 0x03})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := parseEnvelope(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		again := appendEnvelope(nil, &e)
		if len(e.meta) <= 1 && !bytes.Equal(again, b) {
			t.Fatalf("read %x as %+v, which encodes as %x", b, e, again)
		}
		e2, err := parseEnvelope(again)
		if err != nil {
			t.Fatalf("re-encoded %+v does not read: %v", e, err)
		}
		if diff := cmp.Diff(e, e2, cmpEnvelope); diff != "" {
			t.Fatalf("re-encoded envelope reads differently (-first +second):\n%s", diff)
		}
	})
}
