package config

import (
	"strconv"
	"strings"
)

// keyLines maps each key path of a file to the line it is first written on.
// BurntSushi/toml v1.6.0 reports lines only for syntax errors (its key
// positions are unexported), so scanKeyLines finds them with a small scan.
type keyLines map[string]int

// pathKey is the map key of a path; NUL cannot occur in a TOML key.
func pathKey(path []string) string { return strings.Join(path, "\x00") }

// line returns the line of path, or of its nearest enclosing key written in
// the file (a key inside an inline table has the line of the table's key),
// or 0.
func (kl keyLines) line(path []string) int {
	for n := len(path); n > 0; n-- {
		if l, ok := kl[pathKey(path[:n])]; ok {
			return l
		}
	}
	return 0
}

// record sets the line of path and of each of its prefixes not yet seen.
func (kl keyLines) record(path []string, line int) {
	for n := 1; n <= len(path); n++ {
		k := pathKey(path[:n])
		if _, ok := kl[k]; !ok {
			kl[k] = line
		}
	}
}

// lineScanner walks TOML statements, skipping values, to find where keys are.
// It expects input that parsed as TOML but must not fail on any input.
type lineScanner struct {
	data []byte
	i    int
	line int
}

// scanKeyLines returns the line of every key and table header in data.
func scanKeyLines(data []byte) keyLines {
	kl := keyLines{}
	s := &lineScanner{data: data, line: 1}
	if strings.HasPrefix(string(data), "\uFEFF") {
		s.i = 3
	}
	var table []string
	for {
		s.skipBlank()
		if s.i >= len(s.data) {
			return kl
		}
		line := s.line
		if s.data[s.i] == '[' { // [table] or [[array.of.tables]]
			s.i++
			if s.i < len(s.data) && s.data[s.i] == '[' {
				s.i++
			}
			table = s.key()
			kl.record(table, line)
			s.skipValue()
			continue
		}
		key := s.key()
		if len(key) > 0 {
			kl.record(append(append([]string(nil), table...), key...), line)
		}
		s.skipValue()
	}
}

// skipBlank skips whitespace, newlines and comments between statements.
func (s *lineScanner) skipBlank() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case '\n':
			s.line++
		case ' ', '\t', '\r':
		case '#':
			s.skipComment()
			continue
		default:
			return
		}
		s.i++
	}
}

// skipComment skips to the end of the line, leaving the newline.
func (s *lineScanner) skipComment() {
	for s.i < len(s.data) && s.data[s.i] != '\n' {
		s.i++
	}
}

// key reads a dotted key: bare, "basic" or 'literal' parts joined by dots.
func (s *lineScanner) key() []string {
	var parts []string
	for {
		s.skipSpace()
		if s.i >= len(s.data) {
			return parts
		}
		switch c := s.data[s.i]; c {
		case '"', '\'':
			start := s.i
			s.skipString()
			parts = append(parts, unquoteKey(string(s.data[start:s.i])))
		default:
			start := s.i
			for s.i < len(s.data) && !strings.ContainsRune(" \t\r\n=.[]#\"',{}", rune(s.data[s.i])) {
				s.i++
			}
			if s.i == start {
				return parts
			}
			parts = append(parts, string(s.data[start:s.i]))
		}
		s.skipSpace()
		if s.i >= len(s.data) || s.data[s.i] != '.' {
			return parts
		}
		s.i++
	}
}

// unquoteKey returns the value of a quoted key, or q itself if it cannot.
func unquoteKey(q string) string {
	if len(q) >= 2 && q[0] == '\'' && q[len(q)-1] == '\'' {
		return q[1 : len(q)-1]
	}
	if v, err := strconv.Unquote(q); err == nil {
		return v
	}
	return q
}

func (s *lineScanner) skipSpace() {
	for s.i < len(s.data) && (s.data[s.i] == ' ' || s.data[s.i] == '\t') {
		s.i++
	}
}

// skipValue skips the rest of a statement: up to a newline outside any
// array or inline table, string or comment.
func (s *lineScanner) skipValue() {
	depth := 0
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case '\n':
			if depth <= 0 {
				return
			}
			s.line++
		case '"', '\'':
			s.skipString()
			continue
		case '#':
			s.skipComment()
			continue
		case '[', '{':
			depth++
		case ']', '}':
			depth--
		}
		s.i++
	}
}

// skipString skips a string of any of the four kinds starting at s.i.
func (s *lineScanner) skipString() {
	q := s.data[s.i]
	if s.i+2 < len(s.data) && s.data[s.i+1] == q && s.data[s.i+2] == q {
		s.skipMultiline(q)
		return
	}
	s.i++
	for s.i < len(s.data) && s.data[s.i] != '\n' {
		c := s.data[s.i]
		s.i++
		if c == q {
			return
		}
		if c == '\\' && q == '"' && s.i < len(s.data) && s.data[s.i] != '\n' {
			s.i++
		}
	}
}

// skipMultiline skips a multi-line basic or literal string (between three
// quotes of kind q), counting its lines.
func (s *lineScanner) skipMultiline(q byte) {
	s.i += 3
	for s.i < len(s.data) {
		c := s.data[s.i]
		switch {
		case c == '\n':
			s.line++
		case c == '\\' && q == '"':
			s.i++
			if s.i < len(s.data) && s.data[s.i] == '\n' {
				s.line++
			}
		case c == q && s.i+2 < len(s.data) && s.data[s.i+1] == q && s.data[s.i+2] == q:
			s.i += 3
			// Up to two more quotes belong to the content (`"""a"""""`).
			for n := 0; n < 2 && s.i < len(s.data) && s.data[s.i] == q; n++ {
				s.i++
			}
			return
		}
		s.i++
	}
}
