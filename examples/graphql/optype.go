package main

import (
	"errors"
	"fmt"
	"strings"
)

// opType is the type of a GraphQL operation.
type opType uint8

// The types of operation.
const (
	opQuery opType = iota + 1
	opMutation
	opSubscription
)

var opTypeNames = [...]string{"", "query", "mutation", "subscription"}

// String returns "query", "mutation" or "subscription".
func (t opType) String() string {
	if int(t) < len(opTypeNames) && t != 0 {
		return opTypeNames[t]
	}
	return fmt.Sprintf("opType(%d)", uint8(t))
}

// opHead is what operationType reads of an operation definition.
type opHead struct {
	typ  opType
	name string
}

// errNoOperation is operationType's error for a document without
// operations or with several and no name to choose.
var errNoOperation = errors.New("more than one operation in query document and no operation name given")

// operationType returns the type of the operation of doc that name
// selects, or of its only operation when name is empty, as graphql-go
// selects the operation it executes. doc must be a document the schema
// validated: operationType reads only the heads of its top-level
// definitions, skipping comments, strings and whatever is nested in
// brackets.
func operationType(doc, name string) (opType, error) {
	var ops []opHead
	depth := 0
	definition := true // at the start of a top-level definition
	naming := false    // the last operation's name may come next
	directive := false // the next name is a directive's
	for i := 0; i < len(doc); {
		c := doc[i]
		switch {
		case c == '#':
			for i < len(doc) && doc[i] != '\n' && doc[i] != '\r' {
				i++
			}
			continue
		case c == '"':
			i = skipString(doc, i)
			continue
		case c == '{' || c == '(' || c == '[':
			if depth == 0 {
				if c == '{' && definition {
					ops = append(ops, opHead{typ: opQuery}) // the shorthand query
				}
				definition, naming = false, false
			}
			depth++
		case c == '}' || c == ')' || c == ']':
			depth--
			if depth == 0 && c == '}' {
				definition = true
			}
		case c == '@':
			directive = true
		case isNameStart(c):
			j := i + 1
			for j < len(doc) && (isNameStart(doc[j]) || doc[j] >= '0' && doc[j] <= '9') {
				j++
			}
			word := doc[i:j]
			i = j
			if depth != 0 {
				continue
			}
			switch {
			case directive:
				directive = false
			case definition:
				definition = false
				switch word {
				case "query":
					ops, naming = append(ops, opHead{typ: opQuery}), true
				case "mutation":
					ops, naming = append(ops, opHead{typ: opMutation}), true
				case "subscription":
					ops, naming = append(ops, opHead{typ: opSubscription}), true
				}
			case naming:
				ops[len(ops)-1].name, naming = word, false
			}
			continue
		}
		i++
	}
	if name == "" {
		if len(ops) != 1 {
			return 0, errNoOperation
		}
		return ops[0].typ, nil
	}
	for _, op := range ops {
		if op.name == name {
			return op.typ, nil
		}
	}
	return 0, fmt.Errorf("no operation with name %q", name)
}

// skipString returns the index just past the string or block string
// that starts at doc[i].
func skipString(doc string, i int) int {
	if strings.HasPrefix(doc[i:], `"""`) {
		for j := i + 3; j < len(doc); {
			switch {
			case strings.HasPrefix(doc[j:], `\"""`):
				j += 4
			case strings.HasPrefix(doc[j:], `"""`):
				return j + 3
			default:
				j++
			}
		}
		return len(doc)
	}
	for j := i + 1; j < len(doc); j++ {
		switch doc[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(doc)
}

// isNameStart reports whether c may start a GraphQL name.
func isNameStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
