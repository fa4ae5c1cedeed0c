package main

import (
	"reflect"
	"strings"

	"github.com/wsmap/wsmap/service"
)

// layouts returns the types whose layout the report shows: service.Conn,
// and those of its fields that are structs of wsmap's own (or point to
// one) and take more than 64 bytes.
func layouts() []reflect.Type {
	conn := reflect.TypeFor[service.Conn]()
	out := []reflect.Type{conn}
	for i := range conn.NumField() {
		t := conn.Field(i).Type
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() == reflect.Struct && t.Size() > 64 && strings.HasPrefix(t.PkgPath(), "github.com/wsmap/wsmap/") {
			out = append(out, t)
		}
	}
	return out
}

// field is one field of a struct, with its share of the struct's size:
// its own size and the padding after it.
type field struct {
	name, typ string
	size      uintptr
}

// layout returns t's fields, each with the bytes it takes up to the
// next (or the struct's end).
func layout(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		end := t.Size()
		if i+1 < t.NumField() {
			end = t.Field(i + 1).Offset
		}
		out = append(out, field{name: f.Name, typ: f.Type.String(), size: end - f.Offset})
	}
	return out
}
