package message

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzSeeds are small hostile messages added to the golden ones.
var fuzzSeeds = []string{
	"",
	"\r\n",
	"\n\n\n",
	"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a--\r\n--a--",
	"Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: message/rfc822\n\nContent-Type: multipart/mixed; boundary=ab\n\n--ab\n\nx\n--a--\n",
	"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: x\r\n\r\ny\r\n--d--",
	"Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n",
	"Subject: x\rTo: y\r\r--b\r",
	"From: g: a@b, \"c\" <d@e>;, <@r:x@y>\r\nSubject: =?utf-8?q?a?= =?utf-8?b?Yg==?=\r\n\r\n",
	"Content-Type: text/plain; name*0*=utf-8''%41; name*1=b; name=\"=?utf-8?q?x?=\"\r\n\r\n",
}

func FuzzParse(f *testing.F) {
	for _, raw := range goldenMessages(f) {
		f.Add(raw)
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := Parse(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatal(err)
		}
		checkTree(t, p, int64(len(raw)))
		got, err := Unmarshal(p.Marshal())
		if err != nil {
			t.Fatalf("Unmarshal(Marshal()): %v", err)
		}
		if !equalTrees(got, p) {
			t.Fatalf("round trip differs")
		}
	})
}

func FuzzUnmarshal(f *testing.F) {
	for _, raw := range goldenMessages(f) {
		p, err := Parse(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p.Marshal())
	}
	f.Add([]byte{1})
	f.Add([]byte{1, 0, 0, 0, 0, 1, 3, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Unmarshal(b)
		if err != nil {
			return
		}
		q, err := Unmarshal(p.Marshal())
		if err != nil || !equalTrees(p, q) {
			t.Fatalf("re-encoding: %v", err)
		}
	})
}

func FuzzDecodeWords(f *testing.F) {
	for _, s := range []string{
		"=?utf-8?q?caf=C3=A9?=", "=?UTF-8?B?44GT4w==?= =?UTF-8?B?gpPjgavjgaHjga8=?=",
		"a =?iso-8859-1?q?=E9?= b", "=?ISO-2022-JP?B?GyRCOzNFREJATzobKEI=?=", "=?=?utf-8?q?x?=",
		"=?gb18030?B?ouM=?==?big5?B?pKSk5Q==?=", "=?utf-8*en?b?YQ?=", "=?x?q?=?=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := DecodeWords(s)
		if !strings.Contains(s, "=?") && got != s {
			t.Fatalf("text without encoded-words changed: %q", got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 out of valid input: %q", got)
		}
	})
}

func FuzzParseAddressList(f *testing.F) {
	for _, s := range []string{
		"A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;", "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
		"<@r1,@r2:x@y>", `"a\"b" <c@d>`, "g:;", ";;::<<>>@@", "(((", `"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		depth := 0
		for _, a := range ParseAddressList(s) {
			switch {
			case a == EnvAddress{}:
				depth--
			case a.Host == "":
				depth++
			case a.Mailbox == "":
				t.Fatalf("address without mailbox: %+v", a)
			}
			if depth < 0 || depth > 1 {
				t.Fatalf("unbalanced groups")
			}
		}
		if depth != 0 {
			t.Fatalf("unclosed group")
		}
	})
}

func FuzzParseParams(f *testing.F) {
	for _, s := range []string{
		`; title*0*=us-ascii'en'This%20is; title*1*=%2A; title*2="isn't it!"`, `; a="b\"c"; d=e (f)`,
		`; n*1=b; n*0=a`, `;;==;`, `; name="=?UTF-8?Q?Gr=C3=BC=C3=9Fe.png?="`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if m := ParseParams(s); len(m) > MaxParams {
			t.Fatalf("%d params", len(m))
		}
		ParseMediaType(s)
		ParseDisposition(s)
	})
}

func FuzzParseHeader(f *testing.F) {
	for _, raw := range goldenMessages(f) {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h := ParseHeader(b)
		var all []byte
		for _, fl := range h.Fields {
			if int64(len(all)) != fl.Offset {
				t.Fatalf("field at %d, want %d", fl.Offset, len(all))
			}
			all = append(all, fl.Raw...)
			fl.Value()
		}
		if int64(len(all)) > h.Size || h.Size > int64(len(b)) || !bytes.Equal(all, b[:len(all)]) {
			t.Fatalf("fields do not tile the header")
		}
	})
}
