package mux

import (
	"slices"
)

// index finds the first registered route matching a path without trying
// every pattern: routes are grouped by the literal prefix every path they
// match starts with, so a lookup tries only the routes whose prefix the
// path starts with, one map lookup per distinct prefix length. The
// routes of a prefix are chained through their next field, in
// registration order, so that a table of distinct prefixes keeps no list
// for each.
type index struct {
	routes   []*compiled
	byPrefix map[string]chain // the routes of each prefix
	lengths  []int            // distinct prefix lengths, ascending
	patterns map[string]int   // pattern, unanchored (patternKey) → route index, for duplicates
}

// chain is the first and last route, by index, with a prefix.
type chain struct{ first, last int32 }

func (x *index) add(c *compiled, key string) {
	if x.byPrefix == nil {
		x.byPrefix = make(map[string]chain)
		x.patterns = make(map[string]int)
	}
	x.routes = append(x.routes, c)
	x.patterns[key] = c.index
	if ch, ok := x.byPrefix[c.prefix]; ok {
		x.routes[ch.last].next = int32(c.index)
		x.byPrefix[c.prefix] = chain{ch.first, int32(c.index)}
	} else {
		x.byPrefix[c.prefix] = chain{int32(c.index), int32(c.index)}
	}
	if i, found := slices.BinarySearch(x.lengths, len(c.prefix)); !found {
		x.lengths = slices.Insert(x.lengths, i, len(c.prefix))
	}
}

// lookup returns the first registered route that matches path, with the
// submatch indexes of its named groups, or nil. It does not allocate when
// no route matches.
func (x *index) lookup(path string) (*compiled, []int) {
	best := -1
	var bestMatch []int
	for _, l := range x.lengths {
		if l > len(path) {
			break
		}
		ch, ok := x.byPrefix[path[:l]]
		if !ok {
			continue
		}
		for i := int(ch.first); i >= 0; i = int(x.routes[i].next) {
			if best >= 0 && i > best {
				break
			}
			if ok, m := x.routes[i].match(path); ok {
				best, bestMatch = i, m
				break
			}
		}
	}
	if best < 0 {
		return nil, nil
	}
	return x.routes[best], bestMatch
}
