package storetest

// Conformance tests of SearchText: case-insensitive substring matching of
// decoded text (RFC 9051 §6.4.4), short terms, header prefixes, copies
// sharing a blob, expunge and reopen.

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/posthorn/posthorn/internal/message"
	"github.com/posthorn/posthorn/internal/store"
)

// searchMsgs are the messages of testSearchText, by name.
var searchMsgs = []struct{ name, body string }{
	{"plain", "From: a@example.org\r\nSubject: Meeting agenda\r\n\r\nLet's discuss the Quarterly Report tomorrow.\r\nHe said \"hi\".\r\n"},
	{"base64", "Subject: greetings\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte("Grüße aus München\r\n")) + "\r\n"},
	{"qp-latin1", "Subject: food\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9 cr=E8me br=FBl=\r\nee\r\n"},
	{"html", "Subject: alt\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nplain part\r\n--b\r\n" +
		"Content-Type: text/html\r\n\r\n<p>Hello <b>World</b> &amp; friends</p><script>secretscript()</script>\r\n--b--\r\n"},
	{"encoded-subject", "Subject: =?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte("Überraschung")) + "?=\r\n\r\nnothing here\r\n"},
	{"attachment", "Subject: att\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n" +
		"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte("needle-in-binary")) + "\r\n--b--\r\n"},
	{"embedded", "Subject: fwd\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner-subject-xyz\r\nFrom: c@example.org\r\n\r\ninner body\r\n"},
}

func structureOf(body string) []byte {
	root, _ := message.Parse(strings.NewReader(body), int64(len(body)))
	return root.Marshal()
}

func testSearchText(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	in := f.mailbox(a.ID, "INBOX")
	uid := map[string]uint32{}
	for i, m := range searchMsgs {
		tg := inbox(a.ID)
		switch i % 3 {
		case 0: // a part tree over prefix + body, as delivery computes it
			tg.HeaderPrefix = []byte("Received: by mx\r\n")
			tg.Structure = structureOf(string(tg.HeaderPrefix) + m.body)
		case 1: // no tree: the store parses
		case 2: // a tree that does not decode: the store parses
			tg.Structure = []byte{1, 2, 3}
		}
		uid[m.name] = f.deliver(m.body, tg)[0].UID
	}
	big := "Subject: big\r\n\r\n" + strings.Repeat("filler line of text\r\n", 5000) + "tail-marker\r\n"
	uid["big"] = f.deliver(big, inbox(a.ID))[0].UID
	pm := f.deliver("Subject: prefixed\r\n\r\nbody\r\n", store.Target{AccountID: a.ID,
		HeaderPrefix: []byte("X-Verdict: hamlet-verdict\r\n")})[0]
	uid["prefix"] = pm.UID
	// Another mailbox's messages are never returned.
	f.deliver(searchMsgs[0].body, store.Target{AccountID: a.ID, Mailbox: "Archive"})

	all := sortedCopy(func() []uint32 {
		var u []uint32
		for _, v := range uid {
			u = append(u, v)
		}
		return u
	}())
	names := func(ns ...string) []uint32 {
		var u []uint32
		for _, n := range ns {
			u = append(u, uid[n])
		}
		return sortedCopy(u)
	}
	for _, c := range []struct {
		q    store.TextQuery
		want []uint32
	}{
		{store.TextQuery{Body: []string{"quarterly REPORT"}}, names("plain")},
		{store.TextQuery{Body: []string{"MÜNCHEN"}}, names("base64")},
		{store.TextQuery{Body: []string{"café crème brûlee"}}, names("qp-latin1")},
		{store.TextQuery{Body: []string{"world"}}, names("html")},
		{store.TextQuery{Body: []string{"& friends"}}, names("html")},
		{store.TextQuery{Body: []string{"secretscript"}}, nil},
		{store.TextQuery{Body: []string{"<b>"}}, nil},
		{store.TextQuery{Body: []string{"überraschung"}}, nil},
		{store.TextQuery{Text: []string{"überraschung"}}, names("encoded-subject")},
		{store.TextQuery{Header: []string{"überraschung"}}, names("encoded-subject")},
		{store.TextQuery{Body: []string{"needle-in-binary"}}, nil},
		{store.TextQuery{Body: []string{"inner-subject-xyz"}}, names("embedded")},
		{store.TextQuery{Header: []string{"inner-subject-xyz"}}, nil},
		{store.TextQuery{Text: []string{"meeting"}}, names("plain")},
		{store.TextQuery{Body: []string{"meeting"}}, nil},
		{store.TextQuery{Body: []string{`said "hi"`}}, names("plain")},
		{store.TextQuery{Body: []string{"tail-marker"}}, names("big")},
		{store.TextQuery{Body: []string{"quarterly", "tomorrow"}}, names("plain")},
		{store.TextQuery{Body: []string{"quarterly", "münchen"}}, nil},
		{store.TextQuery{Body: []string{"quarterly"}, Text: []string{"agenda"}}, names("plain")},
		{store.TextQuery{Text: []string{"hamlet-verdict"}}, names("prefix")},
		{store.TextQuery{Header: []string{"HAMLET-verdict"}}, names("prefix")},
		{store.TextQuery{Body: []string{"hamlet-verdict"}}, nil},
		{store.TextQuery{Text: []string{"received: by"}}, names("plain", "html", "embedded")},
		// Terms shorter than a trigram.
		{store.TextQuery{Body: []string{"ü"}}, names("base64")},
		{store.TextQuery{Text: []string{"Ü"}}, names("base64", "encoded-subject")},
		{store.TextQuery{Body: []string{"QU"}}, names("plain")},
		{store.TextQuery{Text: []string{"x-"}}, names("prefix")},
		{store.TextQuery{Body: []string{"qu", "tomorrow"}}, names("plain")},
		// Empty queries and terms match everything.
		{store.TextQuery{}, all},
		{store.TextQuery{Body: []string{""}}, all},
	} {
		got, err := f.s.SearchText(f.ctx, a.ID, in.ID, c.q)
		f.must(err, "SearchText")
		if !slices.Equal(got, c.want) {
			t.Errorf("SearchText(%+v) = %v, want %v", c.q, got, c.want)
		}
	}
	_, err := f.s.SearchText(f.ctx, a.ID, 987654, store.TextQuery{})
	wantErr(t, "SearchText missing mailbox", err, store.ErrNotFound)

	// Expunged messages are no longer found; the index survives a reopen.
	f.setFlags(a.ID, in.ID, store.FlagsAdd, store.FlagDeleted, uid["plain"])
	_, err = f.s.Expunge(f.ctx, a.ID, in.ID, nil)
	f.must(err, "Expunge")
	f.cycle()
	for q, want := range map[string][]uint32{"quarterly": nil, "münchen": names("base64"), "tail-marker": names("big")} {
		got, err := f.s.SearchText(f.ctx, a.ID, in.ID, store.TextQuery{Body: []string{q}})
		f.must(err, "SearchText after reopen")
		if !slices.Equal(got, want) {
			t.Errorf("after expunge and reopen: SearchText(%q) = %v, want %v", q, got, want)
		}
	}
}

// testSearchTextShared: copies and multi-target deliveries share one blob
// and its index row; it goes when the last message does.
func testSearchTextShared(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	b := f.account("b@example.org")
	body := "Subject: shared\r\n\r\nthe zanzibar protocol\r\n"
	ms := f.deliver(body, inbox(a.ID), inbox(b.ID))
	search := func(accountID, mailboxID int64, term string) []uint32 {
		t.Helper()
		got, err := f.s.SearchText(f.ctx, accountID, mailboxID, store.TextQuery{Body: []string{term}})
		f.must(err, "SearchText")
		return got
	}
	arch := f.mailbox(a.ID, "Archive")
	res, err := f.s.Copy(f.ctx, a.ID, ms[0].MailboxID, []uint32{ms[0].UID}, arch.ID)
	f.must(err, "Copy")
	if got := search(a.ID, arch.ID, "zanzibar"); !slices.Equal(got, res.DstUIDs) {
		t.Errorf("copy: found %v, want %v", got, res.DstUIDs)
	}
	// Moving keeps it searchable in the destination only.
	trash := f.mailbox(a.ID, "Trash")
	mv, err := f.s.Move(f.ctx, a.ID, ms[0].MailboxID, []uint32{ms[0].UID}, trash.ID)
	f.must(err, "Move")
	if got := search(a.ID, ms[0].MailboxID, "zanzibar"); len(got) != 0 {
		t.Errorf("moved message still found in the source: %v", got)
	}
	if got := search(a.ID, trash.ID, "zanzibar"); !slices.Equal(got, mv.DstUIDs) {
		t.Errorf("moved message: found %v, want %v", got, mv.DstUIDs)
	}
	f.must(f.s.DeleteMailbox(f.ctx, a.ID, "Archive"), "DeleteMailbox")
	f.must(f.s.DeleteAccount(f.ctx, b.ID), "DeleteAccount")
	if got := search(a.ID, trash.ID, "zanzibar"); !slices.Equal(got, mv.DstUIDs) {
		t.Errorf("after deleting other references: found %v, want %v", got, mv.DstUIDs)
	}
	f.setFlags(a.ID, trash.ID, store.FlagsAdd, store.FlagDeleted, mv.DstUIDs...)
	_, err = f.s.Expunge(f.ctx, a.ID, trash.ID, nil)
	f.must(err, "Expunge")
	if got := search(a.ID, trash.ID, "zanzibar"); len(got) != 0 {
		t.Errorf("after expunging the last reference: found %v", got)
	}
	// The same text delivered again is indexed again.
	m := f.deliver(body, inbox(a.ID))[0]
	if got := search(a.ID, m.MailboxID, "ZANZIBAR"); !slices.Equal(got, []uint32{m.UID}) {
		t.Errorf("redelivered: found %v", got)
	}
	f.checkConsistent(a.ID)
}
