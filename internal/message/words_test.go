package message

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecodeWords(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"", ""},
		{"=?utf-8?q?caf=C3=A9?=", "café"},
		{"=?UTF-8?B?Y2Fmw6k=?=", "café"},
		{"=?utf-8?b?Y2Fmw6k?=", "café"}, // missing padding
		{"=?iso-8859-1?q?J=F6rg?= M", "Jörg M"},
		{"a =?utf-8?q?b?= c", "a b c"},
		{"=?utf-8?q?a?= =?utf-8?q?b?=", "ab"},                          // RFC 2047 §8
		{"=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab"},                      // folded
		{"=?utf-8?q?a?= x =?utf-8?q?b?=", "a x b"},                     // text between words stays
		{"=?utf-8?q?a_b?=", "a b"},                                     // underscore
		{"=?utf-8?q?a=5Fb?=", "a_b"},                                   // encoded underscore
		{"=?utf-8?q?a=?=", "a="},                                       // malformed escape kept
		{"=?utf-8?q?a=Zb?=", "a=Zb"},                                   // malformed escape kept
		{"=?utf-8?x?abc?=", "=?utf-8?x?abc?="},                         // unknown encoding
		{"=?x-unknown?q?abc?=", "=?x-unknown?q?abc?="},                 // unknown charset
		{"=?utf-8?b?!!!?=", "=?utf-8?b?!!!?="},                         // bad base64
		{"=?utf-8?q?a b?=", "=?utf-8?q?a b?="},                         // space inside
		{"=?utf-8?q?abc", "=?utf-8?q?abc"},                             // unterminated
		{"=??q?abc?=", "=??q?abc?="},                                   // empty charset
		{"=?utf-8*en?q?hi?=", "hi"},                                    // RFC 2231 §5 language
		{"pre=?utf-8?q?x?=post", "prexpost"},                           // not delimited by space
		{"=?=?utf-8?q?x?=", "=?x"},                                     // stray "=?" before a word
		{"=?utf-8?q??=", ""},                                           // empty text
		{"=?UTF-8?B?44GT4w==?= =?UTF-8?B?gpPjgavjgaHjga8=?=", "こんにちは"}, // character split across words
		{"=?utf-8?q?a?= =?iso-8859-1?q?=E9?=", "aé"},
		{"=?ISO-2022-JP?B?GyRCOzNFREJATzobKEI=?=", "山田太郎"},
		{"=?shift_jis?B?k/qWe4zq?=", "日本語"},
		{"=?gb2312?B?1tDOxA==?=", "中文"},
		{"=?gbk?B?1tDOxA==?=", "中文"},
		{"=?gb18030?B?ouM=?=", "€"},
		{"=?big5?B?pKSk5Q==?=", "中文"},
		{"=?euc-kr?B?x9Gxub7u?=", "한국어"},
		{"=?euc-jp?B?xvzL3A==?=", "日本"},
		{"=?koi8-r?B?8NLJ18XU?=", "Привет"},
		{"=?windows-1251?B?z/Do4uXy?=", "Привет"},
		{"=?us-ascii?q?hello?=", "hello"},
		{"=?iso-8859-15?q?=A4?=", "€"},
		{"=?utf-8?q?=FF?=", "\uFFFD"}, // invalid UTF-8 replaced
	}
	for _, tt := range tests {
		if got := DecodeWords(tt.in); got != tt.want {
			t.Errorf("DecodeWords(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDecodeCharset(t *testing.T) {
	tests := []struct {
		cs   string
		in   string
		want string
	}{
		{"", "abc", "abc"},
		{"UTF-8", "caf\xc3\xa9", "café"},
		{"utf-8", "a\xffb", "a\uFFFDb"},
		{"us-ascii", "a\xffb", "a\uFFFDb"},
		{"ISO-8859-1", "caf\xe9", "café"},
		{"latin1", "caf\xe9", "café"},
		{"windows-1252", "\x80", "€"},
		{"koi8-r", "\xf0\xd2\xc9\xd7\xc5\xd4", "Привет"},
		{" Shift_JIS ", "\x93\xfa\x96\x7b", "日本"},
	}
	for _, tt := range tests {
		got, err := DecodeCharset(tt.cs, []byte(tt.in))
		if err != nil || got != tt.want {
			t.Errorf("DecodeCharset(%q, %q) = %q, %v; want %q", tt.cs, tt.in, got, err, tt.want)
		}
	}
	for _, cs := range []string{"x-bogus", "iso-2022-kr"} {
		if _, err := DecodeCharset(cs, []byte("x")); !errors.Is(err, ErrUnknownCharset) {
			t.Errorf("DecodeCharset(%q): err = %v, want ErrUnknownCharset", cs, err)
		}
	}
}

func TestDecodeWordsLinear(t *testing.T) {
	for _, s := range []string{
		strings.Repeat("=?a?q?", 200000) + "?=",
		strings.Repeat("=?utf-8?q?a b", 100000) + "?=",
		strings.Repeat("=?", 300000),
		strings.Repeat("=?utf-8?q?a?= ", 50000),
	} {
		start := time.Now()
		DecodeWords(s)
		if d := time.Since(start); d > time.Minute { // quadratic, not slow
			t.Errorf("DecodeWords on %q…: %v", s[:20], d)
		}
	}
}
