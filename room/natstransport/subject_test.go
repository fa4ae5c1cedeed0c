package natstransport

import (
	"strings"
	"testing"
)

func TestRoomToken(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", maxToken+1)
	for _, tc := range []struct{ name, want string }{
		{"lobby", "lobby"},
		{"Room_1-b", "Room_1-b"},
		{"", "~"},
		{"a.b", "a~2eb"},
		{"*", "~2a"},
		{">", "~3e"},
		{"a.>", "a~2e~3e"},
		{"a b\tc\r\n", "a~20b~09c~0d~0a"},
		{"~", "~7e"},
		{"~2e", "~7e2e"},
		{"é", "~c3~a9"},
		{"$SYS", "~24SYS"},
		{strings.Repeat("x", maxToken), strings.Repeat("x", maxToken)},
		{long, ""},
	} {
		got := roomToken(tc.name)
		if tc.name == long {
			// The digest itself is checked by its form; its value by
			// crypto/sha256.
			if !strings.HasPrefix(got, "~h") || len(got) != 66 {
				t.Errorf("roomToken(%d bytes) = %q, want ~h and 64 hex digits", len(tc.name), got)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("roomToken(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// FuzzRoomToken: a token is one literal subject token, never longer than
// the digest form, and two different names never share one.
func FuzzRoomToken(f *testing.F) {
	for _, s := range []string{"lobby", "", "a.b", "~", "~7e", "*", ">", "a b", strings.Repeat("é", 50)} {
		f.Add(s, s+".")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ta, tb := roomToken(a), roomToken(b)
		for _, tok := range []string{ta, tb} {
			if tok == "" || strings.ContainsAny(tok, ".*> \t\r\n\f\v") || len(tok) > maxToken {
				t.Fatalf("token %q is not one literal subject token of at most %d bytes", tok, maxToken)
			}
		}
		if a != b && ta == tb {
			t.Fatalf("%q and %q share the token %q", a, b, ta)
		}
	})
}
