package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestReduceTextOps(t *testing.T) {
	ins := func(id int64, body string) textOp { return textOp{id: id, text: indexText{body: body}} }
	del := func(id int64) textOp { return textOp{id: id, del: true} }
	for _, c := range []struct {
		name    string
		ops     []textOp
		inserts []string
		deletes []int64
	}{
		{"deliveries", []textOp{ins(1, "a"), ins(2, "b"), ins(3, "c")}, []string{"a", "b", "c"}, nil},
		{"unordered", []textOp{ins(3, "c"), ins(1, "a")}, []string{"a", "c"}, nil},
		{"deletes", []textOp{del(9), ins(10, "x"), del(4), del(9)}, []string{"x"}, []int64{4, 9}},
		{"freed in the batch", []textOp{ins(5, "a"), ins(6, "b"), del(6)}, []string{"a"}, []int64{6}},
		{"freed and reused", []textOp{ins(6, "old"), del(6), ins(6, "new")}, []string{"new"}, []int64{6}},
	} {
		inserts, deletes := reduceTextOps(c.ops)
		var got []string
		for _, op := range inserts {
			got = append(got, op.text.body)
		}
		if !slices.Equal(got, c.inserts) || !slices.Equal(deletes, c.deletes) {
			t.Errorf("%s: inserts %q deletes %v, want %q %v", c.name, got, deletes, c.inserts, c.deletes)
		}
	}
}

// TestBatchTextIndex runs, in one batch, a delivery that fails, one that
// is then expunged (freeing its blob id) and one that reuses that id: the
// index holds exactly the surviving message's text.
func TestBatchTextIndex(t *testing.T) {
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	acc := addAccount(t, s, "a@example.org")
	full := addAccount(t, s, "full@example.org")
	if err := s.SetQuota(ctx, full.ID, 10); err != nil {
		t.Fatal(err)
	}
	inbox := mustMailbox(t, s, acc.ID, "INBOX")
	release := blockWriter(t, s)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	run := func(i int, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f()
		}()
		waitQueued(t, s, i+1)
	}
	deliverText := func(text string, targets ...Target) func() error {
		return func() error {
			_, err := s.Deliver(ctx, Delivery{Body: strings.NewReader("Subject: x\r\n\r\n" + text + "\r\n"), Targets: targets})
			return err
		}
	}
	run(0, deliverText("overquotaword", Target{AccountID: full.ID}))
	run(1, deliverText("expungedword", Target{AccountID: acc.ID}))
	run(2, func() error {
		_, err := s.Expunge(ctx, acc.ID, inbox.ID, []uint32{1})
		return err
	})
	run(3, deliverText("survivingword", Target{AccountID: acc.ID}))
	release()
	wg.Wait()
	if !errors.Is(errs[0], ErrOverQuota) || errs[1] != nil || errs[2] != nil || errs[3] != nil {
		t.Fatalf("results %v", errs)
	}
	for term, want := range map[string][]uint32{"overquotaword": nil, "expungedword": nil, "survivingword": {2}, "subject: x": {2}} {
		q := TextQuery{Body: []string{term}}
		if strings.Contains(term, ":") {
			q = TextQuery{Text: []string{term}}
		}
		got, err := s.SearchText(ctx, acc.ID, inbox.ID, q)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("search %q: %v, %v; want %v", term, got, err, want)
		}
	}
	var rows int
	if err := s.rdb.QueryRow(`SELECT count(*) FROM msgtext`).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("%d index rows, %v; want 1", rows, err)
	}
}

// TestTextIndexConfig: schema v6 sets msgtext's merge options.
func TestTextIndexConfig(t *testing.T) {
	s := openTest(t, t.TempDir())
	got := map[string]int{}
	rows, err := s.rdb.Query(`SELECT k, v FROM msgtext_config WHERE k IN ('automerge', 'crisismerge')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var v int
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		got[k] = v
	}
	if got["automerge"] != 16 || got["crisismerge"] != 32 {
		t.Errorf("msgtext config %v", got)
	}
}
