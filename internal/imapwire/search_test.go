package imapwire

import (
	"reflect"
	"testing"
	"time"
)

func TestParseSearch(t *testing.T) {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	and := func(keys ...SearchKey) SearchKey { return SearchKey{Op: KeyAnd, Sub: keys} }
	k := func(op string) SearchKey { return SearchKey{Op: op} }
	set := func(ranges ...SeqRange) SeqSet { return SeqSet{Ranges: ranges} }
	tests := []struct {
		in   string
		want SearchArgs
		err  bool
	}{
		{in: "ALL", want: SearchArgs{Key: and(k("ALL"))}},
		{in: "unseen Flagged", want: SearchArgs{Key: and(k("UNSEEN"), k("FLAGGED"))}},
		{in: "1:3,5 UID 2:*", want: SearchArgs{Key: and(
			SearchKey{Op: KeySeqSet, Set: set(SeqRange{1, 3}, SeqRange{5, 5})},
			SearchKey{Op: "UID", Set: set(SeqRange{2, 0})})}},
		{in: "$", want: SearchArgs{Key: and(SearchKey{Op: KeySeqSet, Set: SeqSet{Saved: true}})}},
		{in: `CHARSET UTF-8 BODY "hello world" TEXT {3}` + "\r\nabc", want: SearchArgs{Charset: "UTF-8",
			Key: and(SearchKey{Op: "BODY", Str: "hello world"}, SearchKey{Op: "TEXT", Str: "abc"})}},
		{in: `HEADER Message-ID "<x@y>" HEADER X-Empty ""`, want: SearchArgs{Key: and(
			SearchKey{Op: "HEADER", Field: "Message-ID", Str: "<x@y>"},
			SearchKey{Op: "HEADER", Field: "X-Empty"})}},
		{in: `OR FROM bob (TO alice CC "carol") NOT SUBJECT spam BCC dave`, want: SearchArgs{Key: and(
			SearchKey{Op: "OR", Sub: []SearchKey{
				{Op: "FROM", Str: "bob"},
				and(SearchKey{Op: "TO", Str: "alice"}, SearchKey{Op: "CC", Str: "carol"}),
			}},
			SearchKey{Op: "NOT", Sub: []SearchKey{{Op: "SUBJECT", Str: "spam"}}},
			SearchKey{Op: "BCC", Str: "dave"})}},
		{in: `SINCE 1-Feb-1994 BEFORE "01-mar-1994" ON 29-Feb-2024 SENTSINCE 2-Jan-2006 SENTBEFORE 3-Jan-2006 SENTON 4-Jan-2006`,
			want: SearchArgs{Key: and(
				SearchKey{Op: "SINCE", Date: day(1994, 2, 1)}, SearchKey{Op: "BEFORE", Date: day(1994, 3, 1)},
				SearchKey{Op: "ON", Date: day(2024, 2, 29)}, SearchKey{Op: "SENTSINCE", Date: day(2006, 1, 2)},
				SearchKey{Op: "SENTBEFORE", Date: day(2006, 1, 3)}, SearchKey{Op: "SENTON", Date: day(2006, 1, 4)})}},
		{in: `SAVEDBEFORE 1-Jan-2000 SAVEDON 2-Jan-2000 SAVEDSINCE 3-Jan-2000 SAVEDATESUPPORTED`, want: SearchArgs{Key: and(
			SearchKey{Op: "SAVEDBEFORE", Date: day(2000, 1, 1)}, SearchKey{Op: "SAVEDON", Date: day(2000, 1, 2)},
			SearchKey{Op: "SAVEDSINCE", Date: day(2000, 1, 3)}, k("SAVEDATESUPPORTED"))}},
		{in: `LARGER 100 SMALLER 5000 OLDER 3600 YOUNGER 60`, want: SearchArgs{Key: and(
			SearchKey{Op: "LARGER", Num: 100}, SearchKey{Op: "SMALLER", Num: 5000},
			SearchKey{Op: "OLDER", Num: 3600}, SearchKey{Op: "YOUNGER", Num: 60})}},
		{in: `KEYWORD $Label1 UNKEYWORD Junk`, want: SearchArgs{Key: and(
			SearchKey{Op: "KEYWORD", Str: "$Label1"}, SearchKey{Op: "UNKEYWORD", Str: "Junk"})}},
		{in: `MODSEQ 620162338`, want: SearchArgs{Key: and(SearchKey{Op: "MODSEQ", Num: 620162338})}},
		{in: `MODSEQ "/flags/\\draft" all 620162338`, want: SearchArgs{Key: and(SearchKey{Op: "MODSEQ", Num: 620162338})}},
		{in: `RETURN (MIN MAX count ALL save MIN) UNDELETED`, want: SearchArgs{Extended: true,
			Return: []string{"MIN", "MAX", "COUNT", "ALL", "SAVE"}, Key: and(k("UNDELETED"))}},
		{in: `RETURN () ANSWERED DELETED DRAFT NEW OLD RECENT SEEN UNANSWERED UNDRAFT UNFLAGGED`,
			want: SearchArgs{Extended: true, Key: and(k("ANSWERED"), k("DELETED"), k("DRAFT"), k("NEW"), k("OLD"),
				k("RECENT"), k("SEEN"), k("UNANSWERED"), k("UNDRAFT"), k("UNFLAGGED"))}},
		{in: `((SEEN) (1:2))`, want: SearchArgs{Key: and(and(and(k("SEEN")),
			and(SearchKey{Op: KeySeqSet, Set: set(SeqRange{1, 2})})))}},
		{in: ``, err: true},
		{in: `BOGUS`, err: true},
		{in: `FROM`, err: true},
		{in: `SINCE 31-Feb-2024`, err: true},
		{in: `SINCE yesterday`, err: true},
		{in: `OR SEEN`, err: true},
		{in: `(SEEN`, err: true},
		{in: `()`, err: true},
		{in: `RETURN (PARTIAL 1:10) ALL`, err: true},
		{in: `OLDER 0`, err: true},
		{in: `0:4`, err: true},
		{in: `ALL  SEEN`, err: true},
		{in: `SEEN ` + repeat("NOT ", 100) + "SEEN", err: true},
		{in: repeat("(", 100) + "SEEN" + repeat(")", 100), err: true},
	}
	for _, tt := range tests {
		p := NewParser([]byte(tt.in), false)
		got := ParseSearch(p)
		err := p.End()
		if tt.err {
			if err == nil {
				t.Errorf("%q: no error, got %+v", tt.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tt.in, got, tt.want)
		}
	}
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}
