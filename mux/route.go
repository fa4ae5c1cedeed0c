package mux

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// Route is one entry of the service mapper's table: a path pattern and the
// handlers that serve connections to matching paths, one per subprotocol.
type Route struct {
	// Pattern is an RE2 regular expression matched against the whole
	// decoded request path, as if written ^(?:Pattern)$ (the query string
	// is not part of the path). Named groups, (?P<name>…), become path
	// values: r.PathValue(name) and Conn.Param(name).
	Pattern string

	// Protocols are the subprotocols served, each by its handler, in the
	// server's order of preference.
	Protocols []Protocol

	// NoProtocol serves clients that offer no subprotocol (the #f entry of
	// Racket's ws-service-mapper). Without it such clients are refused
	// with 400.
	NoProtocol service.Handler

	// FallbackNoMatch serves a client whose offer matches none of
	// Protocols with NoProtocol (and no subprotocol) instead of refusing
	// it with 400.
	FallbackNoMatch bool

	// Policy decides between several offered protocols the route serves.
	// Defaults to the client's order.
	Policy protocol.Policy

	// HTTP serves plain requests (no WebSocket upgrade) to matching paths,
	// so that one path can serve a page and a socket. Without it they are
	// answered 426 Upgrade Required.
	HTTP http.Handler

	// Options configures this route's connections; nil means the Mux's.
	Options *service.Options

	// Middleware wraps this route's handshakes, inside the Mux's own.
	Middleware []func(http.Handler) http.Handler

	// ConnMiddleware wraps this route's connection handlers, inside the
	// Mux's own.
	ConnMiddleware []func(service.Handler) service.Handler

	// Doc describes the route, and the messages of its connections
	// without a subprotocol, for API documents (see package asyncapi).
	// Optional; it changes nothing in how the route serves.
	Doc *Doc
}

// Protocol pairs a subprotocol name with the handler that serves it.
type Protocol struct {
	Name    string
	Handler service.Handler

	// Doc describes the subprotocol and its messages for API documents
	// (see package asyncapi). Optional; it changes nothing in how the
	// protocol is served.
	Doc *Doc
}

// Errors wrapped by every *RouteError, one per kind of mistake.
var (
	ErrInvalidPattern    = errors.New("mux: invalid pattern")
	ErrDuplicatePattern  = errors.New("mux: duplicate pattern")
	ErrInvalidProtocol   = errors.New("mux: invalid subprotocol name")
	ErrDuplicateProtocol = errors.New("mux: subprotocol listed twice")
	ErrNoHandler         = errors.New("mux: missing handler")
)

// RouteError is a mistake in a route, found when it is added.
type RouteError struct {
	Pattern string
	// Where says which route: "table entry N" for New, the file and
	// line of the registering call for Add and Handle.
	Where string
	// Offset is the byte offset in Pattern of the mistake, or -1.
	Offset int
	// Err wraps one of the Err… kinds, with details.
	Err error
}

// Error describes the mistake, the pattern and where it was registered.
func (e *RouteError) Error() string {
	s := fmt.Sprintf("mux: route %q", e.Pattern)
	if e.Where != "" {
		s += " (" + e.Where + ")"
	}
	if e.Offset >= 0 {
		s += fmt.Sprintf(", offset %d", e.Offset)
	}
	return s + ": " + strings.TrimPrefix(e.Err.Error(), "mux: ")
}

// Unwrap returns the kind of mistake with its details.
func (e *RouteError) Unwrap() error { return e.Err }

// compiled is a validated route, ready for dispatch. A large table keeps
// one for each route, so it holds as little as it can: beside the pattern
// and the handler for clients without a subprotocol, the rest of the
// Route is kept apart and shared by the routes that have none of it; the
// route's strings share the pattern's bytes where they can; what a route
// can work out again when asked (the anchored expression, the name of its
// table entry) is not kept.
type compiled struct {
	Pattern    string
	NoProtocol service.Handler
	*routeMore // never nil; shared, and not to be changed

	re     atomic.Pointer[regexp.Regexp] // the anchored expression compiled, from the first match on
	prefix string                        // every matching path starts with it
	names  []string                      // capture names, by group number ("" unnamed), when one is named
	index  int
	next   int32 // the next route with the same prefix, or -1 (see index)
	// isRegexp: the pattern is matched as an expression, not as the path
	// itself. inTable: an entry of New's table.
	isRegexp, hasName, inTable bool
}

// routeMore is what a route has beside its pattern and NoProtocol
// handler, which most routes of a large table do without.
type routeMore struct {
	Protocols       []Protocol
	FallbackNoMatch bool
	Policy          protocol.Policy
	HTTP            http.Handler
	Options         *service.Options
	Middleware      []func(http.Handler) http.Handler
	ConnMiddleware  []func(service.Handler) service.Handler
	Doc             *Doc
	supported       []string // protocol names, in order
	// where says where the route was registered (RouteError.Where); ""
	// for an entry of New's table, named after index (see registeredAt).
	where string
}

// noMore is the routeMore of every route that has nothing more.
var noMore routeMore

// isZero reports whether m holds nothing.
func (m *routeMore) isZero() bool {
	return len(m.Protocols) == 0 && !m.FallbackNoMatch && m.Policy == 0 && m.HTTP == nil && m.Options == nil &&
		len(m.Middleware) == 0 && len(m.ConnMiddleware) == 0 && m.Doc == nil && len(m.supported) == 0 && m.where == ""
}

// tableEntry names entry i of New's table, for RouteError.Where.
func tableEntry(i int) string { return fmt.Sprintf("table entry %d", i) }

// registeredAt says where the route was registered, as RouteError.Where.
func (c *compiled) registeredAt() string {
	if c.inTable {
		return tableEntry(c.index)
	}
	return c.where
}

// anchored returns the route's expression anchored at both ends.
func (c *compiled) anchored() string { return `^(?:` + c.Pattern + `)$` }

// compile validates r. The returned error is a *RouteError.
func compile(r Route, index int, where string) (*compiled, error) {
	fail := func(offset int, err error) (*compiled, error) {
		return nil, &RouteError{Pattern: r.Pattern, Where: where, Offset: offset, Err: err}
	}
	c := &compiled{Pattern: r.Pattern, NoProtocol: r.NoProtocol, index: index, next: -1}
	more := routeMore{Protocols: r.Protocols, FallbackNoMatch: r.FallbackNoMatch, Policy: r.Policy, HTTP: r.HTTP,
		Options: r.Options, Middleware: r.Middleware, ConnMiddleware: r.ConnMiddleware, Doc: r.Doc, where: where}
	if where == tableEntry(index) {
		more.where, c.inTable = "", true
	}
	if w, ok := findWildcard(r.Pattern); ok {
		return fail(w.at, fmt.Errorf("%w: %s", ErrInvalidPattern, w.hint(r.Pattern)))
	}
	ast, err := syntax.Parse(r.Pattern, syntax.Perl)
	if err != nil {
		var se *syntax.Error
		offset := -1
		if errors.As(err, &se) {
			if i := strings.Index(r.Pattern, se.Expr); i >= 0 && se.Expr != r.Pattern {
				offset = i
			}
			return fail(offset, fmt.Errorf("%w: %s: %q", ErrInvalidPattern, se.Code, se.Expr))
		}
		return fail(-1, fmt.Errorf("%w: %v", ErrInvalidPattern, err))
	}
	if slash, _ := startsWithSlash(ast.Simplify()); !slash {
		return fail(0, fmt.Errorf("%w: it cannot match a path, which always starts with \"/\"; write %q", ErrInvalidPattern, withSlash(r.Pattern)))
	}
	prefix, complete := literalPrefix(ast.Simplify())
	if strings.HasPrefix(r.Pattern, prefix) {
		prefix = r.Pattern[:len(prefix)] // no string of its own
	}
	c.prefix = prefix
	if !complete || strings.ContainsAny(r.Pattern, `\.+*?()|[]{}^$`) {
		// Compiled here to check it, then dropped: the route compiles
		// it again when a path first reaches it (see regexp), so that a
		// large table keeps in memory only the expressions in use.
		c.isRegexp = true
		re, err := regexp.Compile(c.anchored())
		if err != nil {
			return fail(-1, fmt.Errorf("%w: %v", ErrInvalidPattern, err))
		}
		names := slices.Clone(re.SubexpNames())
		seen := map[string]bool{}
		for _, n := range names {
			if n == "" {
				continue
			}
			if seen[n] {
				return fail(strings.Index(r.Pattern, "(?P<"+n+">"), fmt.Errorf("%w: capture name %q used twice", ErrInvalidPattern, n))
			}
			seen[n] = true
			c.hasName = true
		}
		if c.hasName {
			c.names = names
			for i, n := range names {
				// The names are the anchored expression's bytes, which
				// the route does not otherwise keep: the pattern holds
				// the same.
				if j := strings.Index(r.Pattern, "<"+n+">"); n != "" && j >= 0 {
					names[i] = r.Pattern[j+1 : j+1+len(n)]
				}
			}
		}
	}
	for i, p := range r.Protocols {
		if !protocol.ValidToken(p.Name) {
			return fail(-1, fmt.Errorf("%w: %q (entry %d) is not an RFC 7230 token", ErrInvalidProtocol, p.Name, i))
		}
		if isNil(p.Handler) {
			return fail(-1, fmt.Errorf("%w: subprotocol %q has a nil handler", ErrNoHandler, p.Name))
		}
		for _, q := range r.Protocols[:i] {
			if q.Name == p.Name {
				return fail(-1, fmt.Errorf("%w: %q", ErrDuplicateProtocol, p.Name))
			}
		}
		more.supported = append(more.supported, p.Name)
	}
	if r.NoProtocol != nil && isNil(r.NoProtocol) {
		return fail(-1, fmt.Errorf("%w: NoProtocol is a nil %T", ErrNoHandler, r.NoProtocol))
	}
	if r.HTTP != nil && isNil(r.HTTP) {
		return fail(-1, fmt.Errorf("%w: HTTP is a nil %T", ErrNoHandler, r.HTTP))
	}
	for i, mw := range r.Middleware {
		if mw == nil {
			return fail(-1, fmt.Errorf("%w: Middleware entry %d is nil", ErrNoHandler, i))
		}
	}
	for i, mw := range r.ConnMiddleware {
		if mw == nil {
			return fail(-1, fmt.Errorf("%w: ConnMiddleware entry %d is nil", ErrNoHandler, i))
		}
	}
	if len(r.Protocols) == 0 && r.NoProtocol == nil && r.HTTP == nil {
		return fail(-1, fmt.Errorf("%w: the route serves no subprotocol, no client without one, and no plain request", ErrNoHandler))
	}
	if r.FallbackNoMatch && r.NoProtocol == nil {
		return fail(-1, fmt.Errorf("%w: FallbackNoMatch needs a NoProtocol handler", ErrNoHandler))
	}
	c.routeMore = &noMore
	if !more.isZero() {
		c.routeMore = &more
	}
	return c, nil
}

// patternKey returns what tells duplicate patterns apart: the
// expression without redundant anchors, so that /a and ^/a$ compare
// equal. pattern is one compile accepted. The key is pattern itself,
// sharing its bytes, when the two read the same.
func patternKey(pattern string) string {
	ast, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return pattern // not reached: compile parsed it
	}
	key := unanchored(ast.Simplify()).String()
	if key == pattern {
		return pattern
	}
	return key
}

// match reports whether path matches and, for a pattern with named
// groups, returns the submatch indexes.
func (c *compiled) match(path string) (bool, []int) {
	if !c.isRegexp {
		return path == c.Pattern, nil
	}
	re := c.regexp()
	if !c.hasName {
		return re.MatchString(path), nil
	}
	m := re.FindStringSubmatchIndex(path)
	return m != nil, m
}

// regexp returns the route's compiled expression, compiling it on first
// use. Two first uses at once may both compile it; one result is kept.
func (c *compiled) regexp() *regexp.Regexp {
	if re := c.re.Load(); re != nil {
		return re
	}
	re := regexp.MustCompile(c.anchored()) // compiled without error when added
	if !c.re.CompareAndSwap(nil, re) {
		return c.re.Load()
	}
	return re
}

// literalPrefix returns the literal text every match of re starts with,
// and whether re is that literal text and nothing else.
func literalPrefix(re *syntax.Regexp) (string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return "", false
		}
		return string(re.Rune), true
	case syntax.OpEmptyMatch, syntax.OpBeginText, syntax.OpEndText, syntax.OpBeginLine, syntax.OpEndLine:
		return "", true
	case syntax.OpCapture:
		return literalPrefix(re.Sub[0])
	case syntax.OpConcat:
		var b strings.Builder
		for _, sub := range re.Sub {
			p, complete := literalPrefix(sub)
			b.WriteString(p)
			if !complete {
				return b.String(), false
			}
		}
		return b.String(), true
	}
	return "", false
}

// wildcard is a chi- or ServeMux-style wildcard found in a pattern: RE2
// reads {name}, {name:expr}, {name...} and {$} as literal braces (a
// repetition starts with a digit), which is never what was meant.
type wildcard struct {
	at, end int    // where it starts and ends in the pattern
	name    string // "" for {$}
	expr    string // the expression of {name:expr}
	rest    bool   // {name...}: the rest of the path
}

// hint says what the wildcard is and what to write instead.
func (w wildcard) hint(pattern string) string {
	text := pattern[w.at:w.end]
	switch {
	case w.name == "":
		return fmt.Sprintf("%q is a ServeMux-style end anchor, which a regular expression reads as literal text; a pattern matches the whole path already, so drop it", text)
	case w.rest:
		return fmt.Sprintf("%q is a ServeMux-style wildcard, which a regular expression reads as literal text; write (?P<%s>.*)", text, w.name)
	}
	expr := w.expr
	if expr == "" {
		expr = "[^/]+"
	}
	return fmt.Sprintf("%q is a chi-style parameter, which a regular expression reads as literal text; write (?P<%s>%s)", text, w.name, expr)
}

// findWildcard finds the first chi- or ServeMux-style wildcard in
// pattern, outside character classes and not escaped.
func findWildcard(pattern string) (wildcard, bool) {
	inClass := false
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case c == '\\':
			i++ // the escaped byte
		case c == '[' && !inClass:
			inClass = true
			if i+1 < len(pattern) && pattern[i+1] == ']' {
				i++ // a ] first in a class is literal
			}
		case c == ']' && inClass:
			inClass = false
		case c == '{' && !inClass:
			if strings.HasPrefix(pattern[i:], "{$}") {
				return wildcard{at: i, end: i + 3}, true
			}
			j := i + 1
			for j < len(pattern) && (pattern[j] == '_' || isLetter(pattern[j]) || (j > i+1 && isDigit(pattern[j]))) {
				j++
			}
			if j == i+1 || j == len(pattern) {
				continue
			}
			w := wildcard{at: i, name: pattern[i+1 : j]}
			switch {
			case pattern[j] == '}':
				w.end = j + 1
				return w, true
			case strings.HasPrefix(pattern[j:], "...}"):
				w.end, w.rest = j+4, true
				return w, true
			case pattern[j] != ':':
				continue
			}
			// {name:expr}: the expression runs to the brace that closes
			// this one.
			depth := 0
			for k := j + 1; k < len(pattern); k++ {
				switch pattern[k] {
				case '\\':
					k++
				case '{':
					depth++
				case '}':
					if depth == 0 {
						w.end, w.expr = k+1, pattern[j+1:k]
						return w, true
					}
					depth--
				}
			}
		}
	}
	return wildcard{}, false
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// unanchored drops the anchors at the start and end of re, which the
// route's own anchoring makes redundant, so that /a and ^/a$ compare
// equal.
func unanchored(re *syntax.Regexp) *syntax.Regexp {
	switch re.Op {
	case syntax.OpBeginText, syntax.OpEndText:
		return &syntax.Regexp{Op: syntax.OpEmptyMatch}
	case syntax.OpConcat:
		subs := re.Sub
		for len(subs) > 0 && subs[0].Op == syntax.OpBeginText {
			subs = subs[1:]
		}
		for len(subs) > 0 && subs[len(subs)-1].Op == syntax.OpEndText {
			subs = subs[:len(subs)-1]
		}
		switch len(subs) {
		case 0:
			return &syntax.Regexp{Op: syntax.OpEmptyMatch}
		case 1:
			return subs[0]
		}
		cp := *re
		cp.Sub = subs
		return &cp
	}
	return re
}

// startsWithSlash reports whether re can match a string that starts with
// "/", and whether it can match the empty string. It errs towards yes:
// an assertion (^, $, \b) counts as matching the empty string.
func startsWithSlash(re *syntax.Regexp) (slash, empty bool) {
	switch re.Op {
	case syntax.OpNoMatch:
		return false, false
	case syntax.OpLiteral:
		return len(re.Rune) > 0 && re.Rune[0] == '/', len(re.Rune) == 0
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i] <= '/' && '/' <= re.Rune[i+1] {
				return true, false
			}
		}
		return false, false
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return true, false
	case syntax.OpCapture, syntax.OpPlus:
		return startsWithSlash(re.Sub[0])
	case syntax.OpStar, syntax.OpQuest:
		slash, _ = startsWithSlash(re.Sub[0])
		return slash, true
	case syntax.OpRepeat:
		slash, empty = startsWithSlash(re.Sub[0])
		return slash && re.Max != 0, empty || re.Min == 0
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			s, e := startsWithSlash(sub)
			slash = slash || s
			if !e {
				return slash, false
			}
		}
		return slash, true
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			s, e := startsWithSlash(sub)
			slash, empty = slash || s, empty || e
		}
		return slash, empty
	}
	return false, true // empty match and the assertions
}

// withSlash returns pattern with a leading "/", after its ^ if it has
// one: the suggestion for a pattern that cannot match a path.
func withSlash(pattern string) string {
	if rest, ok := strings.CutPrefix(pattern, "^"); ok {
		return "^/" + rest
	}
	return "/" + pattern
}

// isNil reports whether h is nil or holds a nil function or pointer,
// which would fail every connection it served.
func isNil(h any) bool {
	if h == nil {
		return true
	}
	switch v := reflect.ValueOf(h); v.Kind() {
	case reflect.Func, reflect.Pointer:
		return v.IsNil()
	}
	return false
}
