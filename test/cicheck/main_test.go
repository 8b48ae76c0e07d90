package main

import (
	"strings"
	"testing"
)

// stream is a "go test -json" run of two packages: in example.org/m/a,
// TestOK passes, TestSkip skips, TestFail fails with a subtest that
// skips; example.org/m/test/e2e has TestE2E, with a skipped subtest, and
// times out in TestHang; example.org/m/b passes, example.org/m/c has no
// tests.
const stream = `{"Action":"start","Package":"example.org/m/a"}
{"Action":"output","Package":"example.org/m/a","Output":"-test.shuffle 42\n"}
{"Action":"run","Package":"example.org/m/a","Test":"TestOK"}
{"Action":"output","Package":"example.org/m/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"example.org/m/a","Test":"TestOK","Output":"    a_test.go:1: quiet log\n"}
{"Action":"pass","Package":"example.org/m/a","Test":"TestOK"}
{"Action":"run","Package":"example.org/m/a","Test":"TestSkip"}
{"Action":"output","Package":"example.org/m/a","Test":"TestSkip","Output":"=== RUN   TestSkip\n"}
{"Action":"output","Package":"example.org/m/a","Test":"TestSkip","Output":"    a_test.go:2: dovecot not installed\n"}
{"Action":"output","Package":"example.org/m/a","Test":"TestSkip","Output":"--- SKIP: TestSkip (0.00s)\n"}
{"Action":"skip","Package":"example.org/m/a","Test":"TestSkip"}
{"Action":"run","Package":"example.org/m/a","Test":"TestFail"}
{"Action":"output","Package":"example.org/m/a","Test":"TestFail","Output":"=== RUN   TestFail\n"}
{"Action":"run","Package":"example.org/m/a","Test":"TestFail/sub"}
{"Action":"output","Package":"example.org/m/a","Test":"TestFail/sub","Output":"--- SKIP: TestFail/sub (0.00s)\n"}
{"Action":"skip","Package":"example.org/m/a","Test":"TestFail/sub"}
{"Action":"output","Package":"example.org/m/a","Test":"TestFail","Output":"    a_test.go:3: got 1, want 2\n"}
{"Action":"output","Package":"example.org/m/a","Test":"TestFail","Output":"--- FAIL: TestFail (0.00s)\n"}
{"Action":"fail","Package":"example.org/m/a","Test":"TestFail"}
{"Action":"output","Package":"example.org/m/a","Output":"FAIL\n"}
{"Action":"output","Package":"example.org/m/a","Output":"FAIL\texample.org/m/a\t0.01s\n"}
{"Action":"fail","Package":"example.org/m/a"}
{"Action":"output","Package":"example.org/m/test/e2e","Output":"-test.shuffle 43\n"}
{"Action":"run","Package":"example.org/m/test/e2e","Test":"TestE2E"}
{"Action":"run","Package":"example.org/m/test/e2e","Test":"TestHang"}
{"Action":"output","Package":"example.org/m/test/e2e","Test":"TestHang","Output":"=== RUN   TestHang\n"}
{"Action":"output","Package":"example.org/m/test/e2e","Test":"TestHang","Output":"    e2e_test.go:5: waiting\n"}
{"Action":"run","Package":"example.org/m/test/e2e","Test":"TestE2E/peer"}
{"Action":"output","Package":"example.org/m/test/e2e","Test":"TestE2E/peer","Output":"    e2e_test.go:9: postfix not installed\n"}
{"Action":"skip","Package":"example.org/m/test/e2e","Test":"TestE2E/peer"}
{"Action":"pass","Package":"example.org/m/test/e2e","Test":"TestE2E"}
{"Action":"output","Package":"example.org/m/test/e2e","Output":"panic: test timed out after 1s\n"}
{"Action":"output","Package":"example.org/m/test/e2e","Output":"FAIL\texample.org/m/test/e2e\t1.02s\n"}
{"Action":"fail","Package":"example.org/m/test/e2e"}
{"Action":"output","Package":"example.org/m/b","Output":"PASS\n"}
{"Action":"output","Package":"example.org/m/b","Output":"-test.shuffle 44\n"}
{"Action":"output","Package":"example.org/m/b","Output":"ok  \texample.org/m/b\t0.02s\n"}
{"Action":"pass","Package":"example.org/m/b"}
{"Action":"output","Package":"example.org/m/c","Output":"?   \texample.org/m/c\t[no test files]\n"}
{"Action":"skip","Package":"example.org/m/c"}
`

func TestRender(t *testing.T) {
	var out strings.Builder
	r := newRenderer(&out)
	if err := r.read(strings.NewReader(stream)); err != nil {
		t.Fatal(err)
	}
	r.summary()
	want := `    a_test.go:3: got 1, want 2
--- FAIL: TestFail (0.00s)
-test.shuffle 42
FAIL
FAIL	example.org/m/a	0.01s
    e2e_test.go:5: waiting
-test.shuffle 43
panic: test timed out after 1s
FAIL	example.org/m/test/e2e	1.02s
ok  	example.org/m/b	0.02s
?   	example.org/m/c	[no test files]

3 skipped tests:
  example.org/m/a TestSkip: a_test.go:2: dovecot not installed
  example.org/m/a TestFail/sub: 
  example.org/m/test/e2e TestE2E/peer: e2e_test.go:9: postfix not installed
`
	if out.String() != want {
		t.Errorf("rendered:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestCheck(t *testing.T) {
	res, err := readResults(strings.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		list string
		want []string
	}{
		{"a TestOK\n", nil},
		{"# comment\n\na TestOK # why\n", nil},
		{"a TestSkip", []string{"required test skipped: a TestSkip"}},
		{"a TestFail", []string{"required test skipped: a TestFail/sub"}},
		{"a TestGone", []string{"required test has no result (not run or not finished): a TestGone"}},
		{"test/e2e *", []string{"required test skipped: test/e2e TestE2E/peer"}},
		{"m/test/e2e TestE2E", []string{"required test skipped: m/test/e2e TestE2E/peer"}},
		{"b *", []string{"required test has no result (not run or not finished): b *"}},
		{"test/e2e TestHang", []string{"required test has no result (not run or not finished): test/e2e TestHang"}},
		{"a Test[OF]*", []string{"required test skipped: a TestFail/sub"}},
		{"a *", []string{"required test skipped: a TestFail/sub", "required test skipped: a TestSkip"}},
	} {
		reqs, err := parseRequired(tc.list)
		if err != nil {
			t.Fatalf("%q: %v", tc.list, err)
		}
		got := check(reqs, res)
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%q: got %q, want %q", tc.list, got, tc.want)
		}
	}
	for _, bad := range []string{"", "# only a comment\n", "a\n", "a b c\n", "a Test[\n"} {
		if _, err := parseRequired(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}
