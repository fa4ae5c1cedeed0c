// Package jsontext writes the JSON the message codecs build by hand.
package jsontext

import (
	"encoding/json"
	"unicode/utf8"
)

// AppendString appends s as a JSON string: as it is, between quotes, when
// it is printable ASCII without a quote or a backslash, which method
// names and IDs are; escaped by encoding/json otherwise.
func AppendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
