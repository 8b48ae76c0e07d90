package config

import (
	"reflect"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestScanKeyLines(t *testing.T) {
	in := "a = 1 # b = 2\n" + // 1
		"s = \"\"\"x\n" + // 2
		"c = \\\"\"\"\n" + // 3: escaped quote, string goes on
		"d = 1\"\"\"\"\"\n" + // 4: ends with two quotes of content
		"e = '''\n" + // 5
		"f = '''\n" + // 6
		"[ t . \"u.v\" ] # [w]\n" + // 7
		"g = [\n" + // 8
		" \"]\", '[', { h = 1 },\n" + // 9
		"]\n" + // 10
		"i.j = { k = \"}\" }\r\n" + // 11
		"[[aot]]\n" + // 12
		"l = 'm'\n" // 13
	want := keyLines{
		"a": 1, "s": 2, "e": 5,
		"t": 7, "t\x00u.v": 7, "t\x00u.v\x00g": 8,
		"t\x00u.v\x00i": 11, "t\x00u.v\x00i\x00j": 11,
		"aot": 12, "aot\x00l": 13,
	}
	var m map[string]any
	if _, err := toml.Decode(in, &m); err != nil {
		t.Fatalf("test input is not TOML: %v", err)
	}
	got := scanKeyLines([]byte(in))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("scanKeyLines:\n got %v\nwant %v", got, want)
	}
	if l := got.line([]string{"t", "u.v", "i", "j", "k"}); l != 11 {
		t.Errorf("line of an inline key = %d, want 11", l)
	}
	if l := got.line([]string{"x"}); l != 0 {
		t.Errorf("line of a missing key = %d, want 0", l)
	}
}
