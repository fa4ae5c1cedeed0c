package natstransport

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// The subjects a Transport uses, under its prefix P:
//
//	P.room.TOKEN   a room's events; TOKEN encodes the room's name
//	P.alive        the processes' heartbeats and goodbyes
//
// A room's name may hold any bytes. Its token keeps ASCII letters,
// digits, '-' and '_' as they are and writes every other byte as '~'
// and two lower-case hex digits, so that no name can add a token
// ('.'), a wildcard ('*', '>') or white space to the subject. The empty
// name is "~" alone, and a name whose token would be longer than
// maxToken bytes is "~h" and the hex SHA-256 of the name: neither can
// be the token of another name, since an escape is always '~' and two
// hex digits.
const maxToken = 128

// roomToken returns the subject token of a room's name.
func roomToken(name string) string {
	if name == "" {
		return "~"
	}
	n := 0
	for i := 0; i < len(name); i++ {
		if plain(name[i]) {
			n++
		} else {
			n += 3
		}
	}
	if n > maxToken {
		sum := sha256.Sum256([]byte(name))
		return "~h" + hex.EncodeToString(sum[:])
	}
	if n == len(name) {
		return name
	}
	const digits = "0123456789abcdef"
	var b strings.Builder
	b.Grow(n)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if plain(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('~')
		b.WriteByte(digits[c>>4])
		b.WriteByte(digits[c&15])
	}
	return b.String()
}

// plain reports whether c stands for itself in a room's token.
func plain(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// checkPrefix reports whether p can stand before the transport's own
// tokens: one or more '.'-separated tokens, none empty, without
// wildcards or white space.
func checkPrefix(p string) error {
	for i, tok := range strings.Split(p, ".") {
		if tok == "" {
			return fmt.Errorf("natstransport: prefix %q: empty token %d", p, i+1)
		}
		if j := strings.IndexAny(tok, "*> \t\r\n\f\v"); j >= 0 {
			return fmt.Errorf("natstransport: prefix %q: token %q has %q", p, tok, tok[j])
		}
	}
	return nil
}
