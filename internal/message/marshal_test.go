package message

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func equalTrees(a, b *Part) bool { return reflect.DeepEqual(a, b) }

func TestMarshalRoundTrip(t *testing.T) {
	for name, raw := range goldenMessages(t) {
		p, err := Parse(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatal(err)
		}
		b := p.Marshal()
		got, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !equalTrees(got, p) {
			t.Errorf("%s: round trip differs", name)
		}
		t.Logf("%s: %d bytes message, %d bytes tree", name, len(raw), len(b))
	}
}

func TestUnmarshalRejects(t *testing.T) {
	raw := goldenMessages(t)["nested"]
	p, _ := Parse(bytes.NewReader(raw), int64(len(raw)))
	good := p.Marshal()
	if _, err := Unmarshal(nil); err == nil {
		t.Error("empty input accepted")
	}
	if _, err := Unmarshal(append([]byte{9}, good[1:]...)); !errors.Is(err, ErrCorrupt) {
		t.Error("unknown version accepted")
	}
	if _, err := Unmarshal(append(good[:len(good):len(good)], 0)); err == nil {
		t.Error("trailing byte accepted")
	}
	for i := 1; i < len(good); i++ {
		if _, err := Unmarshal(good[:i]); err == nil {
			t.Errorf("truncation at %d accepted", i)
		}
	}
	// A child outside its parent.
	bad := &Part{BodyStart: 10, BodyEnd: 20, Parts: []*Part{{HeaderStart: 5, HeaderEnd: 6, BodyStart: 6, BodyEnd: 7}}}
	if _, err := Unmarshal(bad.Marshal()); err == nil {
		t.Error("child outside parent accepted")
	}
}
