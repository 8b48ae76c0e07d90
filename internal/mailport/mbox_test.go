package mailport

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/store"
)

// splitAll returns the messages of an mbox file as strings ("TOOBIG" for
// dropped ones).
func splitAll(t *testing.T, in string, max int64) ([]string, []string, error) {
	t.Helper()
	r := NewMboxReader(strings.NewReader(in), max)
	var msgs, froms []string
	for {
		m, err := r.Next()
		if err == io.EOF {
			return msgs, froms, nil
		}
		if err != nil {
			return msgs, froms, err
		}
		if m.TooBig {
			msgs = append(msgs, "TOOBIG")
		} else {
			msgs = append(msgs, string(m.Data))
		}
		froms = append(froms, m.From)
	}
}

func TestMboxReader(t *testing.T) {
	for _, c := range []struct {
		name  string
		in    string
		max   int64
		want  []string
		froms []string
		err   error
	}{
		{name: "empty", in: "", want: nil},
		{name: "blank lines only", in: "\n\n", want: nil},
		{
			name:  "two messages",
			in:    "From a@b Mon Jan  2 15:04:05 2006\nSubject: 1\n\nbody 1\n\nFrom c@d Tue Jan  3 15:04:05 2006\nSubject: 2\n\nbody 2\n\n",
			want:  []string{"Subject: 1\n\nbody 1\n", "Subject: 2\n\nbody 2\n"},
			froms: []string{"a@b Mon Jan  2 15:04:05 2006", "c@d Tue Jan  3 15:04:05 2006"},
		},
		{
			name: "From inside body is quoted and unquoted",
			in:   "From a Mon Jan  2 15:04:05 2006\nS: 1\n\n>From here\n>>From there\n>>>From far\n>Fromage\nFrom-not\n\n",
			want: []string{"S: 1\n\nFrom here\n>From there\n>>From far\n>Fromage\nFrom-not\n"},
		},
		{
			name: "unquoted From_ after a non-blank line does not split",
			in:   "From a Mon Jan  2 15:04:05 2006\nS: 1\n\nline\nFrom me to you\n\n",
			want: []string{"S: 1\n\nline\nFrom me to you\n"},
		},
		{
			name: "CRLF file",
			in:   "From a Mon Jan  2 15:04:05 2006\r\nS: 1\r\n\r\nbody\r\n>From x\r\n\r\nFrom b Mon Jan  2 15:04:05 2006\r\nS: 2\r\n\r\nb2\r\n\r\n",
			want: []string{"S: 1\r\n\r\nbody\r\nFrom x\r\n", "S: 2\r\n\r\nb2\r\n"},
		},
		{
			name: "message ending in blank lines keeps all but the separator",
			in:   "From a Mon Jan  2 15:04:05 2006\nS: 1\n\nbody\n\n\n\nFrom b Mon Jan  2 15:04:05 2006\nS: 2\n",
			want: []string{"S: 1\n\nbody\n\n\n", "S: 2\n"},
		},
		{
			name: "no final newline",
			in:   "From a Mon Jan  2 15:04:05 2006\nS: 1\n\nbody",
			want: []string{"S: 1\n\nbody"},
		},
		{
			name: "leading blank lines",
			in:   "\n\nFrom a Mon Jan  2 15:04:05 2006\nS: 1\n",
			want: []string{"S: 1\n"},
		},
		{name: "not an mbox", in: "Subject: hi\n\nbody\n", err: ErrNotMbox},
		{name: "binary", in: "\x00\x01\x02", err: ErrNotMbox},
		{
			name: "too big message is dropped, the next one kept",
			in:   "From a Mon Jan  2 15:04:05 2006\nS: 1\n\n" + strings.Repeat("x", 100) + "\n\nFrom b Mon Jan  2 15:04:05 2006\nS: 2\n",
			max:  50,
			want: []string{"TOOBIG", "S: 2\n"},
		},
		{
			name: "empty message",
			in:   "From a Mon Jan  2 15:04:05 2006\n\nFrom b Mon Jan  2 15:04:05 2006\nS: 2\n",
			want: []string{"", "S: 2\n"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, froms, err := splitAll(t, c.in, c.max)
			if !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("messages\n got %q\nwant %q", got, c.want)
			}
			if c.froms != nil && !reflect.DeepEqual(froms, c.froms) {
				t.Errorf("From_ lines %q, want %q", froms, c.froms)
			}
		})
	}
}

func TestMboxReaderLongLine(t *testing.T) {
	long := strings.Repeat("y", 200<<10)
	got, _, err := splitAll(t, "From a Mon Jan  2 15:04:05 2006\nS: 1\n\n"+long+"\n", 0)
	if err != nil || len(got) != 1 || got[0] != "S: 1\n\n"+long+"\n" {
		t.Fatalf("long line: err %v, %d messages", err, len(got))
	}
}

// writeMbox quotes msgs into an mbox the way the exporter does.
func writeMbox(msgs []string) string {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	for _, m := range msgs {
		w.WriteString(FormatFromLine("a@b", time.Unix(0, 0)))
		q := newMboxQuoter(w)
		// Feed byte by byte and in one piece alternately to exercise the
		// line-start state across writes.
		if len(m)%2 == 0 {
			for i := range len(m) {
				q.Write([]byte{m[i]})
			}
		} else {
			q.Write([]byte(m))
		}
		q.Close("\n")
	}
	w.Flush()
	return b.String()
}

func TestMboxQuoteRoundTrip(t *testing.T) {
	msgs := []string{
		"S: 1\n\nFrom me\n>From you\n>>From them\nFro\nFrom\n",
		"S: 2\n\n>\n>>\nFrom ",
		"S: 3\r\n\r\nFrom crlf\r\n",
		"S: 4\n\nlast\n\n",
	}
	out := writeMbox(msgs)
	if strings.Contains(out, "\nFrom me") || !strings.Contains(out, "\n>>>From them") {
		t.Errorf("quoting wrong:\n%s", out)
	}
	got, _, err := splitAll(t, out, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{msgs[0], "S: 2\n\n>\n>>\nFrom \n", msgs[2], msgs[3]}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip\n got %q\nwant %q", got, want)
	}
}

func TestParseFromLine(t *testing.T) {
	utc := time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		in     string
		sender string
		date   time.Time
		ok     bool
	}{
		{"a@b Mon Jan  2 15:04:05 2006", "a@b", utc, true},
		{"a@b Mon Jan 02 15:04:05 2006", "a@b", utc, true},
		{"MAILER-DAEMON Mon Jan  2 15:04:05 +0000 2006", "MAILER-DAEMON", utc, true},
		{"a@b Mon Jan  2 15:04:05 2006 -0700", "a@b", utc.Add(7 * time.Hour), true},
		{"a@b Mon Jan  2 15:04 2006", "a@b", utc.Truncate(time.Minute), true},
		{"a@b yesterday", "a@b", time.Time{}, false},
		{"", "", time.Time{}, false},
	} {
		s, d, ok := ParseFromLine(c.in)
		if s != c.sender || ok != c.ok || !d.Equal(c.date) {
			t.Errorf("ParseFromLine(%q) = %q, %v, %v; want %q, %v, %v", c.in, s, d, ok, c.sender, c.date, c.ok)
		}
	}
	line := FormatFromLine("x y@z", utc)
	if line != "From xy@z Mon Jan  2 15:04:05 2006\n" {
		t.Errorf("FormatFromLine = %q", line)
	}
}

func TestStripMboxFields(t *testing.T) {
	for _, c := range []struct {
		in, out string
		state   mboxState
	}{
		{"Subject: a\n\nStatus: RO\n", "Subject: a\n\nStatus: RO\n", mboxState{}},
		{"Status: RO\nSubject: a\nX-Status: AF\n\nbody\n", "Subject: a\n\nbody\n", mboxState{Flags: store.FlagSeen | store.FlagAnswered | store.FlagFlagged}},
		{"Subject: a\r\nstatus: O\r\nX-Status: DT\r\nX-Keywords: $Junk, work\r\n  later\r\nX-UID: 5\r\n\r\nb\r\n", "Subject: a\r\n\r\nb\r\n",
			mboxState{Flags: store.FlagDeleted | store.FlagDraft, Keywords: []string{"$Junk", "work", "later"}}},
		{"X-Status: A", "", mboxState{Flags: store.FlagAnswered}},
	} {
		out, st := stripMboxFields([]byte(c.in))
		if string(out) != c.out || !reflect.DeepEqual(st, c.state) {
			t.Errorf("stripMboxFields(%q) = %q, %+v; want %q, %+v", c.in, out, st, c.out, c.state)
		}
	}
}

func TestMboxStatusFieldsRoundTrip(t *testing.T) {
	for f := store.Flags(0); f < 32; f++ {
		fields := mboxStatusFields(f, []string{"work"}, "\n")
		_, st := stripMboxFields([]byte(fields + "\nbody"))
		if st.Flags != f || !reflect.DeepEqual(st.Keywords, []string{"work"}) {
			t.Errorf("flags %05b: fields %q read back as %+v", f, fields, st)
		}
	}
}

func TestToCRLF(t *testing.T) {
	for in, want := range map[string]string{
		"":             "",
		"a\nb\n":       "a\r\nb\r\n",
		"a\r\nb\n":     "a\r\nb\r\n",
		"\n":           "\r\n",
		"a\rb\r\n\n\r": "a\rb\r\n\r\n\r",
	} {
		if got := string(toCRLF([]byte(in))); got != want {
			t.Errorf("toCRLF(%q) = %q, want %q", in, got, want)
		}
	}
}
