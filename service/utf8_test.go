package service

import (
	"testing"
	"unicode/utf8"
)

// FuzzUTF8Checker checks that validating text split into pieces at any
// points agrees with utf8.Valid on the whole.
func FuzzUTF8Checker(f *testing.F) {
	for _, s := range []string{"", "hello", "κόσμε", "\xce\xba\xe1\xbd", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xef\xbf\xbd", "a\xffb", "\xf0\x9f\x98\x80"} {
		f.Add([]byte(s), uint8(1), uint8(2))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut1, cut2 uint8) {
		a := min(int(cut1), len(data))
		b := min(a+int(cut2), len(data))
		var v utf8Checker
		ok := v.check(data[:a]) && v.check(data[a:b]) && v.check(data[b:]) && v.complete()
		if want := utf8.Valid(data); ok != want {
			t.Fatalf("pieces %q %q %q: checker says %v, utf8.Valid %v", data[:a], data[a:b], data[b:], ok, want)
		}
	})
}

func TestUTF8CheckerByteByByte(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"κόσμε", "\xf0\x9f\x98\x80 ok", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "abc\xe2\x82"} {
		var v utf8Checker
		ok := true
		for i := 0; i < len(s) && ok; i++ {
			ok = v.check([]byte{s[i]})
		}
		ok = ok && v.complete()
		if want := utf8.ValidString(s); ok != want {
			t.Errorf("%q byte by byte: %v, want %v", s, ok, want)
		}
	}
}
