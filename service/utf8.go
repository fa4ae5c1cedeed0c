package service

import "unicode/utf8"

// utf8Checker validates UTF-8 text that arrives in pieces split at any
// byte, such as the fragments of a text message.
type utf8Checker struct {
	pend [utf8.UTFMax]byte // the start of a character split across pieces
	n    int
}

// check reports whether p, following the pieces already checked, is still
// valid UTF-8 so far.
func (v *utf8Checker) check(p []byte) bool {
	// Complete a character left unfinished by the previous piece.
	for v.n > 0 && len(p) > 0 {
		v.pend[v.n] = p[0]
		v.n++
		p = p[1:]
		if utf8.FullRune(v.pend[:v.n]) {
			r, size := utf8.DecodeRune(v.pend[:v.n])
			if r == utf8.RuneError && size <= 1 {
				return false
			}
			v.n = 0
		}
	}
	if len(p) == 0 {
		return true
	}
	// Keep back a character that p ends in the middle of.
	tail := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				tail = i
			}
			break
		}
	}
	if !utf8.Valid(p[:tail]) {
		return false
	}
	v.n = copy(v.pend[:], p[tail:])
	return true
}

// complete reports whether the text ended on a character boundary.
func (v *utf8Checker) complete() bool { return v.n == 0 }
