package config

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/BurntSushi/toml"
)

// Error is one problem found in a configuration. Parse and Load return all
// the problems of a file as one error joining *Error values sorted by line,
// printed one per line.
type Error struct {
	File string // file name given to Parse or Load; empty for Config.Validate
	Line int    // line of the key, from 1; 0 when the key is not in the file
	Key  string // dotted key, such as "listen.smtp"; empty for syntax errors
	Msg  string // what is wrong
}

// Error returns "FILE:LINE: KEY: MSG", leaving out the parts that are empty.
func (e *Error) Error() string {
	s := e.File
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
	}
	if e.Key != "" {
		if s != "" {
			s += ": "
		}
		s += e.Key
	}
	if s != "" {
		s += ": "
	}
	return s + e.Msg
}

// Options are choices of the caller that change what is a valid
// configuration. The zero value is the strictest.
type Options struct {
	// ExternalCerts means the caller provides TLS certificates itself
	// (self-signed ones in "posthorn localserve", for example), so TLS
	// listeners may be enabled without tls.cert_file and tls.key_file.
	ExternalCerts bool
}

// Load reads and parses the configuration file at path with Options{}.
func Load(path string) (Config, error) { return Options{}.Load(path) }

// Parse parses and validates a configuration file with Options{}. name is
// the file name used in errors. Keys absent from data keep their [Default]
// values. A relative data_dir is left as it is.
func Parse(name string, data []byte) (Config, error) { return Options{}.Parse(name, data) }

// Load reads and parses the configuration file at path. A relative data_dir
// is made absolute, relative to the directory of path.
func (o Options) Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c, err := o.Parse(path, data)
	if err != nil {
		return Config{}, err
	}
	if !filepath.IsAbs(c.DataDir) {
		dir, err := filepath.Abs(filepath.Join(filepath.Dir(path), c.DataDir))
		if err != nil {
			return Config{}, err
		}
		c.DataDir = dir
	}
	if f := c.Relay.PasswordFile; f != "" && !filepath.IsAbs(f) {
		c.Relay.PasswordFile = filepath.Join(filepath.Dir(path), f)
	}
	if f := c.Queue.TLSCAFile; f != "" && !filepath.IsAbs(f) {
		c.Queue.TLSCAFile = filepath.Join(filepath.Dir(path), f)
	}
	return c, nil
}

// Parse parses and validates a configuration file; see the function Parse.
func (o Options) Parse(name string, data []byte) (Config, error) {
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		e := &Error{File: name, Msg: "syntax error: " + err.Error()}
		if pe, ok := errors.AsType[toml.ParseError](err); ok {
			e.Line, e.Msg = pe.Position.Line, "syntax error: "+pe.Message
		}
		return Config{}, e
	}
	d := &decoder{file: name, lines: scanKeyLines(data)}
	c := Default()
	d.table(nil, raw, reflect.ValueOf(&c).Elem())
	check(c, o, d.reportValid)
	if len(d.errs) > 0 {
		return Config{}, d.err()
	}
	return c, nil
}

// Validate checks a Config that was not read from a file, such as one built
// in code from [Default]. Its errors have no file name or line.
func (c Config) Validate(o Options) error {
	d := &decoder{lines: keyLines{}}
	check(c, o, d.report)
	return d.err()
}

// decoder sets the fields of a Config from the map decoded by toml,
// collecting an Error for each unknown key and each value of the wrong type.
type decoder struct {
	file  string
	lines keyLines
	errs  []*Error
	bad   map[string]bool // paths of the keys that failed to decode
}

// reportValid reports a problem found by check, unless the key or a table
// holding it failed to decode: its value is then the default, and wrong.
func (d *decoder) reportValid(path []string, format string, args ...any) {
	for n := 1; n <= len(path); n++ {
		if d.bad[pathKey(path[:n])] {
			return
		}
	}
	d.report(path, format, args...)
}

// report records a problem with the key at path.
func (d *decoder) report(path []string, format string, args ...any) {
	d.errs = append(d.errs, &Error{
		File: d.file,
		Line: d.lines.line(path),
		Key:  toml.Key(path).String(),
		Msg:  fmt.Sprintf(format, args...),
	})
}

// err returns the collected errors sorted by line, or nil.
func (d *decoder) err() error {
	slices.SortStableFunc(d.errs, func(a, b *Error) int { return cmp.Compare(a.Line, b.Line) })
	errs := make([]error, len(d.errs))
	for i, e := range d.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// fail reports a key that failed to decode.
func (d *decoder) fail(path []string, format string, args ...any) {
	if d.bad == nil {
		d.bad = map[string]bool{}
	}
	d.bad[pathKey(path)] = true
	d.report(path, format, args...)
}

// table decodes the table raw at path into the section struct v.
func (d *decoder) table(path []string, raw map[string]any, v reflect.Value) {
	fs := fields(v.Type())
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		p := append(slices.Clip(path), k)
		i := slices.IndexFunc(fs, func(f field) bool { return f.name == k })
		if i < 0 {
			d.fail(p, "unknown key")
			continue
		}
		d.value(p, raw[k], v.Field(fs[i].index))
	}
}

// value decodes raw into v, whose type is one of those typeName names.
func (d *decoder) value(path []string, raw any, v reflect.Value) {
	t := v.Type()
	switch {
	case t == durationType:
		s, ok := raw.(string)
		if !ok {
			d.fail(path, "duration expected (a string such as \"90s\"), got %s", tomlType(raw))
			return
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			d.fail(path, "%q is not a duration such as \"90s\" or \"1h30m\"", s)
			return
		}
		v.SetInt(int64(dur))
	case isSection(t):
		m, ok := raw.(map[string]any)
		if !ok {
			d.fail(path, "table expected, got %s", tomlType(raw))
			return
		}
		d.table(path, m, v)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		d.strings(path, raw, v)
	default:
		d.scalar(path, raw, v)
	}
}

// scalar decodes a string, boolean or integer.
func (d *decoder) scalar(path []string, raw any, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		if s, ok := raw.(string); ok {
			v.SetString(s)
			return
		}
	case reflect.Bool:
		if b, ok := raw.(bool); ok {
			v.SetBool(b)
			return
		}
	case reflect.Int:
		if n, ok := raw.(int64); ok {
			if v.OverflowInt(n) {
				d.fail(path, "%d is too large", n)
				return
			}
			v.SetInt(n)
			return
		}
	default:
		d.fail(path, "internal error: field of %s", typeName(v.Type()))
		return
	}
	d.fail(path, "%s expected, got %s", typeName(v.Type()), tomlType(raw))
}

// strings decodes an array of strings; an empty array becomes nil.
func (d *decoder) strings(path []string, raw any, v reflect.Value) {
	a, ok := raw.([]any)
	if !ok {
		d.fail(path, "array of strings expected, got %s", tomlType(raw))
		return
	}
	var ss []string
	for i, e := range a {
		s, ok := e.(string)
		if !ok {
			d.fail(path, "element %d: string expected, got %s", i+1, tomlType(e))
			continue
		}
		ss = append(ss, s)
	}
	if len(ss) == len(a) {
		v.Set(reflect.ValueOf(ss))
	}
}

// tomlType names the TOML type of a value decoded by toml.
func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case time.Time:
		return "date-time"
	case []any:
		return "array"
	case map[string]any:
		return "table"
	case []map[string]any:
		return "array of tables"
	}
	return fmt.Sprintf("%T", v)
}
