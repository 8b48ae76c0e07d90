package msgauth

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/admin"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/dkim"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
	"github.com/posthorn/posthorn/internal/store"
)

// txtValue turns a zone-file TXT value ("a" or ( "a" "b" )) into the text.
func txtValue(v string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(v, '"')
		if i < 0 {
			return b.String()
		}
		j := strings.IndexByte(v[i+1:], '"')
		b.WriteString(v[i+1 : i+1+j])
		v = v[i+2+j:]
	}
}

// TestSubmissionSigned delivers a submitted message through the Deliverer
// with the Hook, reads it back from the store and verifies its signatures
// against the DKIM records "posthorn domain records" prints.
func TestSubmissionSigned(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	adm := &admin.Admin{Store: st, Hostname: addr.MustParseDomain("mail.example.com")}
	if _, err := adm.AddDomain(ctx, admin.DomainRequest{Domain: "example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.AddUser(ctx, admin.UserRequest{Address: "alice@example.com", Password: "alice-Secret-pw-2"}); err != nil {
		t.Fatal(err)
	}
	recs, err := adm.DomainRecords(ctx, admin.DomainRequest{Domain: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	zone := dnstest.Zone{}
	for _, r := range recs {
		if r.Type == "TXT" && strings.Contains(r.Name, "._domainkey.") {
			zone[r.Name] = dnstest.Records{TXT: []string{txtValue(r.Value)}}
		}
	}
	if len(zone) != 2 {
		t.Fatalf("%d DKIM records", len(zone))
	}
	acc, err := st.Account(ctx, addr.MustParseAddress("alice@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	hook := &Hook{AuthServID: "mail.example.com", Signer: &Signer{Keys: st}}
	d := &delivery.Deliverer{Store: st, Hostname: addr.MustParseDomain("mail.example.com"), Hooks: []delivery.Hook{hook}}
	env := &delivery.Envelope{
		ID: "id1", Sender: addr.MustParseAddress("alice@example.com"),
		Recipients: []delivery.Recipient{{Address: acc.Address, Accounts: []store.Account{acc}}},
		Client:     delivery.Client{Login: "alice@example.com", Proto: "ESMTPSA", Private: true},
	}
	m := "From: Alice <alice@example.com>\r\nTo: alice@example.com\r\nSubject: signed\r\n" +
		"Authentication-Results: mail.example.com; dmarc=pass (forged by the client)\r\n\r\nHi\r\n"
	// Message-ID and Date come as the submission server's extra fields:
	// the signature must cover them.
	extra := []byte("Message-ID: <id1@mail.example.com>\r\nDate: Fri, 05 Jun 2026 10:00:00 +0000\r\n")
	if _, err := d.Deliver(ctx, env, delivery.Bytes([]byte(m)), extra); err != nil {
		t.Fatal(err)
	}
	mb, err := st.MailboxByName(ctx, acc.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := st.Messages(ctx, acc.ID, mb.ID, 1, 0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%d messages, %v", len(msgs), err)
	}
	c, err := st.Open(ctx, msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
	c.Close()
	if strings.Contains(string(stored), "forged by the client") {
		t.Errorf("forged Authentication-Results kept:\n%s", stored)
	}
	v := &dkim.Verifier{Resolver: dnstest.NewResolver(zone)}
	rs, err := v.Verify(ctx, strings.NewReader(string(stored)))
	if err != nil {
		t.Fatal(err)
	}
	algs := map[string]bool{}
	for _, r := range rs {
		if r.Status != dkim.StatusPass {
			t.Errorf("%s %s: %s (%s)\n%s", r.Selector, r.Algorithm, r.Status, r.Explanation, stored)
		}
		algs[r.Algorithm] = true
	}
	if len(rs) != 2 || !algs["ed25519-sha256"] || !algs["rsa-sha256"] {
		t.Errorf("signatures: %+v", rs)
	}
	if !strings.Contains(string(stored), "message-id") {
		t.Errorf("Message-ID not signed:\n%s", stored)
	}
	// Mail From another (non-local) domain is not signed.
	sig, err := hook.Signer.Sign(ctx, delivery.Bytes([]byte("From: x@elsewhere.example\r\n\r\nb\r\n")))
	if err != nil || len(sig) != 0 {
		t.Errorf("non-local From signed: %q %v", sig, err)
	}
}
