package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that every error names the
// file, and that a parsed Config survives TOML and Parse unchanged.
// Seeds are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(valid().TOML()), false)
	f.Add([]byte("hostname = \"mail.example.com\"\nlog = { level = \"x\" }\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, external bool) {
		const name = "fuzz.toml"
		o := Options{ExternalCerts: external}
		c, err := o.Parse(name, data)
		if err != nil {
			for _, e := range flatten(err) {
				var ce *Error
				if !errors.As(e, &ce) || ce.File != name || !strings.HasPrefix(ce.Error(), name) {
					t.Fatalf("error without the file name: %q", e)
				}
				if ce.Line < 0 || ce.Line > strings.Count(string(data), "\n")+1 {
					t.Fatalf("error line %d out of range: %q", ce.Line, e)
				}
			}
			return
		}
		again, err := o.Parse(name, c.TOML())
		if err != nil {
			t.Fatalf("Parse(TOML()) of %+v: %v\n%s", c, err, c.TOML())
		}
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("Parse(TOML()):\n got %+v\nwant %+v", again, c)
		}
	})
}

// flatten returns the errors joined in err.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
