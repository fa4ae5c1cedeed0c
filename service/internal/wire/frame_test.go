package wire

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// maskRef masks b, the payload from offset pos on, a byte at a time.
func maskRef(key [4]byte, pos int, b []byte) {
	for i := range b {
		b[i] ^= key[(pos+i)%4]
	}
}

// TestMaskAt checks masking against the byte-by-byte reference, for
// every offset modulo 4 and lengths around the 8-byte words it works in,
// and that masking twice gives the payload back.
func TestMaskAt(t *testing.T) {
	t.Parallel()
	key := [4]byte{0x12, 0x34, 0xab, 0xcd}
	for _, n := range []int{0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 100, 4096} {
		for pos := range 8 {
			p := make([]byte, n)
			for i := range p {
				p[i] = byte(i*7 + pos)
			}
			got, want := bytes.Clone(p), bytes.Clone(p)
			maskAt(key, pos, got)
			maskRef(key, pos, want)
			if !bytes.Equal(got, want) {
				t.Fatalf("%d bytes from offset %d: got %x, want %x", n, pos, got, want)
			}
			maskAt(key, pos, got)
			if !bytes.Equal(got, p) {
				t.Fatalf("%d bytes from offset %d: masking twice does not give the payload back", n, pos)
			}
		}
	}
}

// FuzzMask checks that masking a payload in pieces of any size, each at
// its offset, gives what the reference gives for the whole.
func FuzzMask(f *testing.F) {
	f.Add([]byte("hello, world"), uint32(0x01020304), uint8(5))
	f.Add(make([]byte, 100), uint32(0xffffffff), uint8(1))
	f.Fuzz(func(t *testing.T, p []byte, k uint32, piece uint8) {
		key := [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
		want := bytes.Clone(p)
		maskRef(key, 0, want)
		got := bytes.Clone(p)
		step := int(piece) + 1
		for pos := 0; pos < len(got); pos += step {
			maskAt(key, pos, got[pos:min(pos+step, len(got))])
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("masked in pieces of %d: %x, want %x", step, got, want)
		}
	})
}

// TestPutFrame checks the frames putFrame builds, at the edges of each
// length's encoding, masked and not, with the reference decoder; and that
// headerLen gives their headers' lengths.
func TestPutFrame(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 125, 126, 127, 0xffff, 0x10000, 70000} {
		for _, masked := range []bool{false, true} {
			p := bytes.Repeat([]byte{'p'}, n)
			b := make([]byte, headerLen(n, masked)+n)
			got := putFrame(b, finBit|byte(OpBinary), p, masked)
			if got != len(b) {
				t.Errorf("%d bytes, masked %v: putFrame wrote %d bytes, headerLen says %d", n, masked, got, len(b))
				continue
			}
			f, err := decodeFrame(bufio.NewReader(bytes.NewReader(b)))
			if err != nil {
				t.Errorf("%d bytes, masked %v: %v", n, masked, err)
				continue
			}
			f.Key = [4]byte{}
			want := wireFrame{Fin: true, Op: byte(OpBinary), Masked: masked, Data: string(p)}
			if diff := cmp.Diff(want, f); diff != "" {
				t.Errorf("%d bytes, masked %v (-want +got):\n%s", n, masked, diff)
			}
			if !bytes.Equal(p, bytes.Repeat([]byte{'p'}, n)) {
				t.Errorf("%d bytes, masked %v: the payload given was changed", n, masked)
			}
		}
	}
}
