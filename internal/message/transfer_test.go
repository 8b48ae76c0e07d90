package message

import (
	"io"
	"strings"
	"testing"
)

func TestDecodeTransfer(t *testing.T) {
	tests := []struct {
		enc, in, want string
		known         bool
	}{
		{"7bit", "plain\r\n", "plain\r\n", true},
		{"", "plain", "plain", true},
		{"base64", "aGVs\r\nbG8g\r\nd29y bGQ=\r\n", "hello world", true},
		{"base64", "aGVsbG8=!!garbage", "hello", true},
		{"base64", "aGVsbG8gd29ybGQ=====x", "hello world", true}, // malformed tail ends the data
		{"quoted-printable", "caf=C3=A9 =\r\nna=C3=AFve\r\n", "café naïve\r\n", true},
		{"quoted-printable", "bad =ZZ end", "bad =ZZ end", true}, // Go is lenient: kept as is
		{"x-uuencode", "begin", "begin", false},
	}
	for _, tc := range tests {
		r, known := DecodeTransfer(tc.enc, strings.NewReader(tc.in))
		got, err := io.ReadAll(r)
		if err != nil || string(got) != tc.want || known != tc.known {
			t.Errorf("DecodeTransfer(%q, %q) = %q, %v, known %v; want %q, %v", tc.enc, tc.in, got, err, known, tc.want, tc.known)
		}
	}
}
