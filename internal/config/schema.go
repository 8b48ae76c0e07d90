package config

import (
	"reflect"
	"strings"
	"time"
)

// field is one key of the schema, read from a struct field's tags.
type field struct {
	name     string   // toml key
	doc      string   // meaning, from the doc tag
	enum     []string // allowed values of a string, from the enum tag
	required bool     // from the required tag
	index    int      // struct field index
	typ      reflect.Type
}

var durationType = reflect.TypeFor[time.Duration]()

// fields returns the keys of a section struct type, in declaration order.
func fields(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		name := sf.Tag.Get("toml")
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		f := field{
			name:     name,
			doc:      sf.Tag.Get("doc"),
			required: sf.Tag.Get("required") == "true",
			index:    i,
			typ:      sf.Type,
		}
		if e := sf.Tag.Get("enum"); e != "" {
			f.enum = strings.Split(e, ",")
		}
		fs = append(fs, f)
	}
	return fs
}

// isSection reports whether t is a table of the schema.
func isSection(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t != durationType
}

// typeName names a field type for people, as in "string expected".
func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() == reflect.Bool:
		return "boolean"
	case t.Kind() == reflect.Int:
		return "integer"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return "array of strings"
	case isSection(t):
		return "table"
	}
	return "unsupported type " + t.String()
}

// supported reports whether the decoder and encoder handle type t.
func supported(t reflect.Type) bool {
	return !strings.HasPrefix(typeName(t), "unsupported")
}
