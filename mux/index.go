package mux

import (
	"slices"
)

// index finds the first registered route matching a path without trying
// every pattern: routes are grouped by the literal prefix every path they
// match starts with, so a lookup tries only the routes whose prefix the
// path starts with, one map lookup per distinct prefix length.
type index struct {
	routes   []*compiled
	byPrefix map[string][]int // route indexes, ascending
	lengths  []int            // distinct prefix lengths, ascending
	patterns map[string]int   // pattern, unanchored → route index, for duplicates
}

func (x *index) add(c *compiled) {
	if x.byPrefix == nil {
		x.byPrefix = make(map[string][]int)
		x.patterns = make(map[string]int)
	}
	x.routes = append(x.routes, c)
	x.patterns[c.key] = c.index
	x.byPrefix[c.prefix] = append(x.byPrefix[c.prefix], c.index)
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
		for _, i := range x.byPrefix[path[:l]] {
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
