package asyncapi

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAddressOf(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		pattern string
		want    string // "" for no address
		params  []param
	}{
		{`/echo`, "/echo", nil},
		{`^/echo$`, "/echo", nil},
		{`\A/echo\z`, "/echo", nil},
		{`/`, "/", nil},
		{`/x\.y`, "/x.y", nil},
		{`/chat/(?P<room>[a-z]+)`, "/chat/{room}", []param{{"room", "[a-z]+"}}},
		{`/chat/(?<room>[a-z]+)`, "/chat/{room}", []param{{"room", "[a-z]+"}}},
		{`^/a/(?P<x>[^/]+)/b/(?P<y>.*)$`, "/a/{x}/b/{y}", []param{{"x", "[^/]+"}, {"y", "(?-s:.*)"}}},
		{`/a(/(?P<x>[0-9]+))`, "/a/{x}", []param{{"x", "[0-9]+"}}},
		{`/(?:api)/v1`, "/api/v1", nil},
		{`/(?P<a>x|y)`, "/{a}", []param{{"a", "[xy]"}}},
		{`(?i)/123`, "/123", nil},
		{`/(?P<a>[a-z]+)(?P<b>[0-9]+)`, "/{a}{b}", []param{{"a", "[a-z]+"}, {"b", "[0-9]+"}}},
		{`/a()`, "/a", nil},

		{`(?i)/echo`, "", nil},      // /ECHO matches too
		{`/echo|/talk`, "", nil},    // two addresses
		{`/echo/?`, "", nil},        // two addresses
		{`/chat/[a-z]+`, "", nil},   // a parameter without a name
		{`/chat/([a-z]+)`, "", nil}, // the same
		{`/a.b`, "", nil},           // any byte
		{`/a\{b\}`, "", nil},        // braces would read as a parameter
		{`/a\?b`, "", nil},          // would read as a query
		{`/a#b`, "", nil},           // would read as a fragment
		{`/50%`, "", nil},           // would read as an escape
		{`/a$/b`, "", nil},          // matches nothing
		{`/a^`, "", nil},            // the same
		{`/a$(?P<x>b)`, "", nil},    // the same
		{`(?m)^/a$`, "", nil},       // line anchors
		{`/a\b`, "", nil},           // word boundary
		{`/[`, "", nil},             // does not parse
	} {
		a, ok := addressOf(tt.pattern)
		if ok != (tt.want != "") || a.text != tt.want {
			t.Errorf("addressOf(%q) = %q, %v; want %q", tt.pattern, a.text, ok, tt.want)
			continue
		}
		if diff := cmp.Diff(tt.params, a.params, cmp.AllowUnexported(param{})); diff != "" {
			t.Errorf("addressOf(%q) params (-want +got):\n%s", tt.pattern, diff)
		}
	}
}

func TestPrefixOf(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		prefix  string
		want    string
		params  []param
		wantErr string
	}{
		{"", "", nil, ""},
		{"/", "", nil, ""},
		{"/ws", "/ws", nil, ""},
		{"/ws/", "/ws", nil, ""},
		{"/ws/rooms/{room}", "/ws/rooms/{room}", []param{{"room", "[^/]+"}}, ""},
		{"/t/{id:[0-9]{1,3}}/x", "/t/{id}/x", []param{{"id", "[0-9]{1,3}"}}, ""},
		{"ws", "", nil, `does not start with "/"`},
		{"/a/{", "", nil, "unclosed {"},
		{"/a/}", "", nil, `'}' at offset 3`},
		{"/a?b", "", nil, `'?' at offset 2`},
		{"/a/{}", "", nil, "is not a word"},
		{"/a/{x-y}", "", nil, "is not a word"},
		{"/a/{x:[}", "", nil, "missing closing ]"},
		{"/{x}/{x}", "", nil, `parameter "x" twice`},
	} {
		a, err := prefixOf(tt.prefix)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("prefixOf(%q): error %v, want one with %q", tt.prefix, err, tt.wantErr)
			}
			continue
		}
		if err != nil || a.text != tt.want {
			t.Errorf("prefixOf(%q) = %q, %v; want %q", tt.prefix, a.text, err, tt.want)
			continue
		}
		if diff := cmp.Diff(tt.params, a.params, cmp.AllowUnexported(param{})); diff != "" {
			t.Errorf("prefixOf(%q) params (-want +got):\n%s", tt.prefix, diff)
		}
	}
}

// rebuild writes a back as a regular expression: its literal text
// quoted, each parameter a named group of its pattern.
func rebuild(a address) string {
	var b strings.Builder
	text := a.text
	for _, p := range a.params {
		i := strings.Index(text, "{"+p.name+"}")
		b.WriteString(regexp.QuoteMeta(text[:i]))
		b.WriteString("(?P<" + p.name + ">" + p.pattern + ")")
		text = text[i+len(p.name)+2:]
	}
	b.WriteString(regexp.QuoteMeta(text))
	return b.String()
}

// FuzzAddressOf checks that an address, read back as a regular
// expression, matches exactly the paths its pattern matches, with the
// same path values.
func FuzzAddressOf(f *testing.F) {
	for _, s := range [][2]string{
		{`/echo`, "/echo"},
		{`^/chat/(?P<room>[a-z]+)$`, "/chat/lobby"},
		{`/a(/(?P<x>[0-9]+))`, "/a/12"},
		{`(?i)/123`, "/123"},
		{`/(?P<a>[a-z]+)(?P<b>[0-9]+)`, "/ab12"},
		{`/a$(?P<x>)`, "/a"},
		{`(?i)/ſ`, "/s"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, path string) {
		a, ok := addressOf(pattern)
		if !ok {
			return
		}
		orig, err := regexp.Compile(`^(?:` + pattern + `)$`)
		if err != nil {
			t.Fatalf("addressOf(%q) = %q, but the pattern does not compile: %v", pattern, a.text, err)
		}
		if strings.Count(a.text, "{") != len(a.params) || strings.Count(a.text, "}") != len(a.params) {
			t.Fatalf("addressOf(%q) = %q with %d parameters", pattern, a.text, len(a.params))
		}
		back, err := regexp.Compile(`^(?:` + rebuild(a) + `)$`)
		if err != nil {
			t.Fatalf("addressOf(%q) = %q, read back as %q: %v", pattern, a.text, rebuild(a), err)
		}
		for _, p := range []string{path, a.text} {
			mo, mb := orig.FindStringSubmatch(p), back.FindStringSubmatch(p)
			if (mo == nil) != (mb == nil) {
				t.Fatalf("addressOf(%q) = %q, read back as %q: path %q matches %v, read back %v", pattern, a.text, rebuild(a), p, mo != nil, mb != nil)
			}
			if mo == nil {
				continue
			}
			for _, prm := range a.params {
				if vo, vb := mo[orig.SubexpIndex(prm.name)], mb[back.SubexpIndex(prm.name)]; vo != vb {
					t.Fatalf("addressOf(%q) = %q: path %q gives %s=%q, read back %q", pattern, a.text, p, prm.name, vo, vb)
				}
			}
		}
	})
}
