package message

import (
	"bufio"
	"errors"
	"strings"
	"testing"
)

func TestParseHeader(t *testing.T) {
	type field struct {
		name, value string
		offset      int64
		raw         string
	}
	tests := []struct {
		name   string
		in     string
		fields []field
		size   int64
	}{
		{"empty", "", nil, 0},
		{"blank only", "\r\nbody", nil, 2},
		{"crlf", "A: 1\r\nB: 2\r\n\r\nbody", []field{{"A", "1", 0, "A: 1\r\n"}, {"B", "2", 6, "B: 2\r\n"}}, 14},
		{"bare lf", "A: 1\nB: 2\n\nbody", []field{{"A", "1", 0, "A: 1\n"}, {"B", "2", 5, "B: 2\n"}}, 11},
		{"folded", "Subject: a\r\n b\r\n\tc\r\n\r\n", []field{{"Subject", "a b\tc", 0, "Subject: a\r\n b\r\n\tc\r\n"}}, 22},
		{"obs ws before colon", "Subject : x\n\n", []field{{"Subject", "x", 0, "Subject : x\n"}}, 13},
		{"no blank line", "A: 1\r\nB: 2", []field{{"A", "1", 0, "A: 1\r\n"}, {"B", "2", 6, "B: 2"}}, 10},
		{"no colon", "From foo\nA: 1\n\n", []field{{"", "", 0, "From foo\n"}, {"A", "1", 9, "A: 1\n"}}, 15},
		{"leading continuation", " x\nA: 1\n\n", []field{{"", "", 0, " x\n"}, {"A", "1", 3, "A: 1\n"}}, 9},
		{"empty value", "A:\r\n\r\n", []field{{"A", "", 0, "A:\r\n"}}, 6},
		{"whitespace-only line continues", "A: 1\n \nB: 2\n\n", []field{{"A", "1", 0, "A: 1\n \n"}, {"B", "2", 7, "B: 2\n"}}, 13},
		{"mixed endings", "A: 1\r\n 2\n\r\n", []field{{"A", "1 2", 0, "A: 1\r\n 2\n"}}, 11},
		{"nul and 8bit", "X: a\x00b\xff\n\n", []field{{"X", "a\x00b\xff", 0, "X: a\x00b\xff\n"}}, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := ParseHeader([]byte(tt.in))
			if h.Size != tt.size {
				t.Errorf("Size = %d, want %d", h.Size, tt.size)
			}
			if len(h.Fields) != len(tt.fields) {
				t.Fatalf("got %d fields, want %d: %v", len(h.Fields), len(tt.fields), h.Fields)
			}
			for i, f := range h.Fields {
				w := tt.fields[i]
				if f.Name != w.name || f.Value() != w.value || f.Offset != w.offset || string(f.Raw) != w.raw {
					t.Errorf("field %d = %q %q %d %q, want %q %q %d %q", i, f.Name, f.Value(), f.Offset, f.Raw, w.name, w.value, w.offset, w.raw)
				}
				if got := tt.in[f.Offset : f.Offset+int64(len(f.Raw))]; got != string(f.Raw) {
					t.Errorf("field %d: offset does not point at Raw", i)
				}
			}
		})
	}
}

func TestHeaderGet(t *testing.T) {
	h := ParseHeader([]byte("Received: a\r\nSUBJECT: hi\r\n there\r\nreceived: b\r\n\r\n"))
	if got := h.Get("subject"); got != "hi there" {
		t.Errorf("Get(subject) = %q", got)
	}
	if got := h.Get("Received"); got != "a" {
		t.Errorf("Get(Received) = %q", got)
	}
	if got := h.Values("RECEIVED"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("Values(RECEIVED) = %q", got)
	}
	if h.Has("To") || !h.Has("Subject") || h.Get("To") != "" || h.Values("To") != nil {
		t.Errorf("Has/Get/Values for absent field wrong")
	}
	// ASCII-only case folding: the Kelvin sign does not fold to k.
	if ParseHeader([]byte("\u212a: x\n\n")).Has("k") {
		t.Errorf("non-ASCII case folding")
	}
}

func TestReadHeader(t *testing.T) {
	br := bufio.NewReaderSize(strings.NewReader("A: 1\r\nB: 2\r\n\r\nbody\r\n"), 16)
	h, err := ReadHeader(br)
	if err != nil || len(h.Fields) != 2 || h.Size != 14 || h.Get("B") != "2" {
		t.Fatalf("ReadHeader = %+v, %v", h, err)
	}
	rest, _ := br.ReadString(0)
	if rest != "body\r\n" {
		t.Errorf("rest = %q, ReadHeader read too far", rest)
	}
	// A long line is read in pieces: its last piece is not a blank line.
	long := "X: " + strings.Repeat("y", 40) + "\r\n"
	br = bufio.NewReaderSize(strings.NewReader(long+"\r\nbody"), 16)
	if h, err = ReadHeader(br); err != nil || h.Get("X") != strings.Repeat("y", 40) || h.Size != int64(len(long)+2) {
		t.Errorf("long line: %+v, %v", h, err)
	}
	_, err = ReadHeader(bufio.NewReader(strings.NewReader(strings.Repeat("X: y\r\n", MaxHeaderBytes/6+1))))
	if !errors.Is(err, ErrHeaderTooLarge) {
		t.Errorf("huge header: err = %v", err)
	}
}
