package jsontext

import (
	"encoding/json"
	"strings"
	"testing"
)

// readBack decodes what AppendString wrote after a prefix.
func readBack(t *testing.T, s string) string {
	t.Helper()
	out := AppendString([]byte("prefix:"), s)
	rest, ok := strings.CutPrefix(string(out), "prefix:")
	if !ok {
		t.Fatalf("AppendString(%q) lost the prefix: %s", s, out)
	}
	var back string
	if err := json.Unmarshal([]byte(rest), &back); err != nil {
		t.Fatalf("AppendString(%q) = %s: %v", s, rest, err)
	}
	return back
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "BootNotification", `a"b`, `a\b`, "tab\there", "é", "\x00", "<html>", "\u2028"} {
		if got := readBack(t, s); got != s {
			t.Errorf("AppendString(%q) reads back as %q", s, got)
		}
	}
	// Invalid UTF-8 is written as encoding/json writes it.
	if got := readBack(t, "x\xffy"); got != "x\ufffdy" {
		t.Errorf("invalid UTF-8 reads back as %q", got)
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("BootNotification")
	f.Add("a\"\\\x00é")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if got := readBack(t, s); got != wantBack {
			t.Fatalf("%q reads back as %q, want %q", s, got, wantBack)
		}
	})
}
