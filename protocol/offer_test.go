package protocol

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseOffer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		lines   []string
		want    Offer
		wantErr string // substring of the error; "" means success
	}{
		{name: "no lines", lines: nil, want: nil},
		{name: "empty line", lines: []string{""}, want: nil},
		{name: "bare commas", lines: []string{" , ,\t,"}, want: nil},
		{name: "one", lines: []string{"echo"}, want: Offer{"echo"}},
		{name: "client order kept", lines: []string{"echo.v2, echo.v1"}, want: Offer{"echo.v2", "echo.v1"}},
		{name: "no spaces", lines: []string{"a,b,c"}, want: Offer{"a", "b", "c"}},
		{name: "tabs and spaces", lines: []string{"\ta ,\t b\t"}, want: Offer{"a", "b"}},
		{name: "two lines", lines: []string{"a, b", "c"}, want: Offer{"a", "b", "c"}},
		{name: "duplicates keep first", lines: []string{"a, b, a", "b, c"}, want: Offer{"a", "b", "c"}},
		{name: "case kept and distinct", lines: []string{"Chat, chat"}, want: Offer{"Chat", "chat"}},
		{name: "all tchars", lines: []string{"!#$%&'*+-.^_`|~09azAZ"}, want: Offer{"!#$%&'*+-.^_`|~09azAZ"}},
		{name: "empty elements ignored", lines: []string{"a,,b"}, want: Offer{"a", "b"}},
		{name: "space inside", lines: []string{"echo v1"}, wantErr: `"echo v1" is not a token: byte ' ' at line 1, offset 4`},
		{name: "quoted", lines: []string{`"echo"`}, wantErr: `byte '"' at line 1, offset 0`},
		{name: "slash", lines: []string{"a, b/c"}, wantErr: `"b/c" is not a token: byte '/' at line 1, offset 4`},
		{name: "semicolon", lines: []string{"a;q=1"}, wantErr: `byte ';'`},
		{name: "second line bad", lines: []string{"a", " x y"}, wantErr: `at line 2, offset 2`},
		{name: "control char", lines: []string{"a\x00b"}, wantErr: `byte '\x00'`},
		{name: "CR LF", lines: []string{"a\r\nb"}, wantErr: `byte '\r'`},
		{name: "non-ASCII", lines: []string{"échо"}, wantErr: `is not a token`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseOffer(tt.lines)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseOffer(%q) = %q, want error containing %q", tt.lines, got, tt.wantErr)
				}
				if !errors.Is(err, ErrMalformedOffer) {
					t.Errorf("error %v does not wrap ErrMalformedOffer", err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error = %q, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseOffer(%q): %v", tt.lines, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseOffer(%q) mismatch (-want +got):\n%s", tt.lines, diff)
			}
		})
	}
}

func TestParseOfferManyDuplicates(t *testing.T) {
	t.Parallel()
	// Long offers switch duplicate detection to a map; the result must be
	// the same as for short ones.
	var b strings.Builder
	var want Offer
	for i := 0; i < 10000; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		name := "p" + strconv.Itoa(i%40)
		b.WriteString(name)
		if i < 40 {
			want = append(want, name)
		}
	}
	got, err := ParseOffer([]string{b.String()})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestParseOfferTooLong(t *testing.T) {
	t.Parallel()
	names := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "p%d,", i)
		}
		return b.String()
	}
	for _, tc := range []struct {
		name  string
		lines []string
		want  int // offer length, or -1 for ErrOfferTooLong
	}{
		{"at the limit", []string{names(MaxOffer)}, MaxOffer},
		{"at the limit over two lines", []string{names(MaxOffer / 2), names(MaxOffer)}, MaxOffer},
		{"one more", []string{names(MaxOffer + 1)}, -1},
		{"one more on a second line", []string{names(MaxOffer), "extra"}, -1},
		{"ten thousand", []string{names(10000)}, -1},
	} {
		got, err := ParseOffer(tc.lines)
		switch {
		case tc.want < 0 && (!errors.Is(err, ErrOfferTooLong) || got != nil):
			t.Errorf("%s: ParseOffer = %d protocols, %v; want ErrOfferTooLong", tc.name, len(got), err)
		case tc.want >= 0 && (err != nil || len(got) != tc.want):
			t.Errorf("%s: ParseOffer = %d protocols, %v; want %d", tc.name, len(got), err, tc.want)
		}
	}
}

func TestOfferFromHeader(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Add("Sec-WebSocket-Protocol", "a, b")
	h.Add("sec-websocket-protocol", "c")
	got, err := OfferFromHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Offer{"a", "b", "c"}, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

// TestParseOfferAllocs checks the allocations of common offers: none for
// no offer and for lines of one protocol each, one for a list.
func TestParseOfferAllocs(t *testing.T) {
	for _, tc := range []struct {
		lines []string
		want  float64
	}{
		{nil, 0},
		{[]string{"echo"}, 0},
		{[]string{"chat.v2", "chat.v1"}, 0},
		{[]string{"chat.v2, chat.v1"}, 1},
		{[]string{"a,b,c,d,e"}, 1},
		{[]string{" echo"}, 1},
		{[]string{"a, b", "c"}, 1},
		{[]string{"echo", "echo"}, 1},
	} {
		got := testing.AllocsPerRun(100, func() {
			if _, err := ParseOffer(tc.lines); err != nil {
				t.Fatal(err)
			}
		})
		if got != tc.want {
			t.Errorf("ParseOffer(%q) allocates %v times, want %v", tc.lines, got, tc.want)
		}
	}
}

// TestParseOfferLeavesLines checks that appending to an Offer that shares
// the lines' array does not write into it.
func TestParseOfferLeavesLines(t *testing.T) {
	t.Parallel()
	lines := make([]string, 2, 4)
	lines[0], lines[1] = "a", "b"
	offer, err := ParseOffer(lines)
	if err != nil {
		t.Fatal(err)
	}
	_ = append(offer, "c")
	if got := lines[:3][2]; got != "" {
		t.Errorf("appending to the offer wrote %q into the lines' array", got)
	}
}

func TestValidToken(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"echo", true}, {"chat.v2", true}, {"x-y_z~1", true},
		{"", false}, {"a b", false}, {"a,b", false}, {"a/b", false}, {"ä", false}, {"a\n", false},
	} {
		if got := ValidToken(tt.in); got != tt.want {
			t.Errorf("ValidToken(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// FuzzParseOffer checks that parsing never panics, that every element of a
// parsed offer is a valid token listed once, that re-joining a parsed
// offer parses back to the same offer, and that two lines parse as the
// one line that joins them with a comma.
func FuzzParseOffer(f *testing.F) {
	for _, s := range []string{"", "echo", "a, b", "a,,b", " a ,\tb ", `"x"`, "a b", "a\r\nb", "é", "a, a, b", "c"} {
		f.Add(s, "c")
	}
	f.Fuzz(func(t *testing.T, line1, line2 string) {
		offer, err := ParseOffer([]string{line1, line2})
		joined, jerr := ParseOffer([]string{line1 + "," + line2})
		if (err == nil) != (jerr == nil) {
			t.Fatalf("two lines: %v; joined: %v", err, jerr)
		}
		if diff := cmp.Diff(offer, joined); diff != "" {
			t.Fatalf("two lines and the joined line differ (-two +joined):\n%s", diff)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformedOffer) && !errors.Is(err, ErrOfferTooLong) {
				t.Fatalf("error %v wraps neither ErrMalformedOffer nor ErrOfferTooLong", err)
			}
			return
		}
		if len(offer) > MaxOffer {
			t.Fatalf("offer of %d protocols accepted, more than MaxOffer", len(offer))
		}
		seen := map[string]bool{}
		for _, p := range offer {
			if !ValidToken(p) {
				t.Fatalf("offer element %q is not a token", p)
			}
			if seen[p] {
				t.Fatalf("offer element %q listed twice", p)
			}
			seen[p] = true
		}
		again, err := ParseOffer([]string{strings.Join(offer, ", ")})
		if err != nil {
			t.Fatalf("re-parse of %q: %v", offer, err)
		}
		if diff := cmp.Diff(offer, again); diff != "" {
			t.Fatalf("re-parse mismatch (-first +again):\n%s", diff)
		}
	})
}
