package asyncapi

import (
	"fmt"
	"regexp/syntax"
	"strings"
	"unicode"
)

// An address is a channel's address: literal text with {name} standing
// for each parameter, in the order of params.
type address struct {
	text   string
	params []param
}

// param is a parameter of an address: the name in braces and the RE2
// expression its value matches.
type param struct {
	name, pattern string
}

// addressOf writes a route pattern as an address, if it can be written
// faithfully: the pattern must be literal text and named groups, with
// anchors only at its ends and unnamed groups only around more of the
// same. Each named group becomes {name}, its expression the parameter's
// pattern. Any other pattern (an alternation, a class or a repetition
// outside a named group, case folding of a letter, literal text with a
// brace, "?", "#" or "%" in it) has no address: ok is false.
func addressOf(pattern string) (a address, ok bool) {
	// Parsed as the mux compiles it, anchored.
	re, err := syntax.Parse(`^(?:`+pattern+`)$`, syntax.Perl)
	if err != nil {
		return address{}, false
	}
	w := addressWriter{}
	if !w.write(re) {
		return address{}, false
	}
	return address{text: w.b.String(), params: w.params}, true
}

// addressWriter writes an address, one piece of the pattern after
// another.
type addressWriter struct {
	b      strings.Builder
	params []param
	ended  bool // past an end-of-text anchor: nothing may follow
}

func (w *addressWriter) write(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return true
	case syntax.OpBeginText:
		// Redundant only where nothing can have matched before it.
		return w.b.Len() == 0 && len(w.params) == 0
	case syntax.OpEndText:
		w.ended = true
		return true
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return true
		}
		if w.ended {
			return false
		}
		for _, r := range re.Rune {
			if strings.ContainsRune("{}?#%", r) {
				return false
			}
			if re.Flags&syntax.FoldCase != 0 && unicode.SimpleFold(r) != r {
				return false // matches other cases of r too
			}
			w.b.WriteRune(r)
		}
		return true
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !w.write(sub) {
				return false
			}
		}
		return true
	case syntax.OpCapture:
		if re.Name == "" {
			return w.write(re.Sub[0])
		}
		if w.ended {
			return false
		}
		fmt.Fprintf(&w.b, "{%s}", re.Name)
		w.params = append(w.params, param{name: re.Name, pattern: re.Sub[0].String()})
		return true
	}
	return false
}

// prefixOf reads a mount prefix: literal text and parameters written
// {name}, matching one path segment ([^/]+), or {name:expr}, matching
// the RE2 expression expr, as chi writes them. A trailing "/" is
// dropped, as the mux drops it when it names a route below a mount
// point.
func prefixOf(prefix string) (address, error) {
	if prefix == "" {
		return address{}, nil
	}
	if prefix[0] != '/' {
		return address{}, fmt.Errorf("prefix %q does not start with \"/\"", prefix)
	}
	prefix = strings.TrimSuffix(prefix, "/")
	var a address
	var b strings.Builder
	for i := 0; i < len(prefix); i++ {
		switch c := prefix[i]; c {
		case '}', '?', '#', '%':
			return address{}, fmt.Errorf("prefix %q: %q at offset %d", prefix, c, i)
		case '{':
			end, depth := -1, 0
			for j := i + 1; j < len(prefix) && end < 0; j++ {
				switch prefix[j] {
				case '{':
					depth++
				case '}':
					if depth == 0 {
						end = j
					}
					depth--
				}
			}
			if end < 0 {
				return address{}, fmt.Errorf("prefix %q: unclosed { at offset %d", prefix, i)
			}
			name, expr, hasExpr := strings.Cut(prefix[i+1:end], ":")
			if !validName(name) {
				return address{}, fmt.Errorf("prefix %q: parameter name %q at offset %d is not a word", prefix, name, i)
			}
			if !hasExpr {
				expr = "[^/]+"
			} else if _, err := syntax.Parse(expr, syntax.Perl); err != nil {
				return address{}, fmt.Errorf("prefix %q: parameter %q: %w", prefix, name, err)
			}
			for _, p := range a.params {
				if p.name == name {
					return address{}, fmt.Errorf("prefix %q: parameter %q twice", prefix, name)
				}
			}
			a.params = append(a.params, param{name: name, pattern: expr})
			fmt.Fprintf(&b, "{%s}", name)
			i = end
		default:
			b.WriteByte(c)
		}
	}
	a.text = b.String()
	return a, nil
}

// validName reports whether s can name a parameter: a capture name of
// RE2, letters, digits and underscores.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r != '_' && !('a' <= r && r <= 'z') && !('A' <= r && r <= 'Z') && !('0' <= r && r <= '9') {
			return false
		}
	}
	return true
}
