package config

import (
	"bytes"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// TOML returns c as a complete configuration file: every key with its value,
// under a comment saying what it means. Parse of the result returns c.
// "posthorn init" writes it.
func (c Config) TOML() []byte {
	var b bytes.Buffer
	b.WriteString("# posthorn configuration file.\n")
	b.WriteString("#\n")
	comment(&b, "Every key is listed with its value and meaning; the full reference is docs/config.md. Unknown keys and invalid values are errors, reported with their line.")
	writeTable(&b, nil, reflect.ValueOf(c))
	return b.Bytes()
}

// writeTable writes the keys of the section v at path, then its sections.
func writeTable(b *bytes.Buffer, path []string, v reflect.Value) {
	fs := fields(v.Type())
	for _, f := range fs {
		if isSection(f.typ) {
			continue
		}
		b.WriteByte('\n')
		comment(b, keyDoc(f))
		fmt.Fprintf(b, "%s = %s\n", f.name, encodeValue(v.Field(f.index)))
	}
	for _, f := range fs {
		if !isSection(f.typ) {
			continue
		}
		p := append(append([]string(nil), path...), f.name)
		b.WriteString("\n\n")
		comment(b, f.doc)
		fmt.Fprintf(b, "[%s]\n", strings.Join(p, "."))
		writeTable(b, p, v.Field(f.index))
	}
}

// keyDoc is the meaning of a key with its allowed values.
func keyDoc(f field) string {
	doc := f.doc
	if f.required {
		doc += " Must not be empty."
	}
	if f.enum != nil {
		doc += " One of: " + strings.Join(f.enum, ", ") + "."
	}
	return doc
}

// comment writes text as # comment lines of at most about 78 columns.
func comment(b *bytes.Buffer, text string) {
	line := "#"
	for _, w := range strings.Fields(text) {
		if len(line)+1+len(w) > 78 && line != "#" {
			b.WriteString(line + "\n")
			line = "#"
		}
		line += " " + w
	}
	b.WriteString(line + "\n")
}

// encodeValue returns the TOML form of v, of a type typeName names.
func encodeValue(v reflect.Value) string {
	t := v.Type()
	switch {
	case t == durationType:
		return quote(time.Duration(v.Int()).String())
	case t.Kind() == reflect.String:
		return quote(v.String())
	case t.Kind() == reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case t.Kind() == reflect.Int:
		return strconv.FormatInt(v.Int(), 10)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		q := make([]string, v.Len())
		for i := range q {
			q[i] = quote(v.Index(i).String())
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	panic("config: no TOML encoding for " + t.String()) // TestSchema prevents this
}

// quote returns s as a TOML basic string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
