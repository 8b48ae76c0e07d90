package msgauth

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/admin"
	"github.com/posthorn/posthorn/internal/arc"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
	"github.com/posthorn/posthorn/internal/store"
)

// TestForwardedSealed: mail that an alias forwards to another server gets
// an ARC set sealed with the alias domain's RSA key, for the forwarded
// copy only, and the chain verifies.
func TestForwardedSealed(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	adm := &admin.Admin{Store: st, Hostname: addr.MustParseDomain("mx.example.org")}
	if _, err := adm.AddDomain(ctx, admin.DomainRequest{Domain: "fwd.example"}); err != nil {
		t.Fatal(err)
	}
	recs, err := adm.DomainRecords(ctx, admin.DomainRequest{Domain: "fwd.example"})
	if err != nil {
		t.Fatal(err)
	}
	zone := testZone(t)
	for _, r := range recs {
		if r.Type == "TXT" && strings.Contains(r.Name, "._domainkey.") {
			zone[r.Name] = dnstest.Records{TXT: []string{txtValue(r.Value)}}
		}
	}
	chk, _ := newTestChecker(t, nil)
	now := func() time.Time { return testNow }
	hook := &Hook{AuthServID: "mx.example.org", Checker: chk, Sealer: &Signer{Keys: st, Now: now}}
	env := &delivery.Envelope{
		ID: "f1", Sender: addr.MustParseAddress("a@sender.example"),
		Recipients: []delivery.Recipient{{
			Address: addr.MustParseAddress("list@fwd.example"), Forwarded: true,
			Remote: []addr.Address{addr.MustParseAddress("someone@elsewhere.example")},
		}},
		Client: delivery.Client{Addr: netip.MustParseAddr(clientIP), HELO: "mail.sender.example"},
	}
	m := signed(t, msg("a@sender.example", ""))
	v, err := hook.Check(ctx, env, delivery.Bytes([]byte(m)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(v.ForwardHeader), "ARC-Seal: i=1;") || !strings.Contains(string(v.ForwardHeader), "d=fwd.example") {
		t.Fatalf("forward header:\n%s", v.ForwardHeader)
	}
	if strings.Contains(string(v.Header), "ARC-") {
		t.Errorf("ARC set in the local copy's fields:\n%s", v.Header)
	}
	out := string(v.ForwardHeader) + string(v.Header) + m
	res, err := (&arc.Verifier{Resolver: dnstest.NewResolver(zone), Now: now}).Verify(ctx, strings.NewReader(out))
	if err != nil || res.Chain != arc.StatusPass {
		t.Fatalf("ARC chain %+v, %v\n%s", res, err, out)
	}
	// Not forwarded: no seal.
	env.Recipients[0].Forwarded = false
	if v, _ := hook.Check(ctx, env, delivery.Bytes([]byte(m))); len(v.ForwardHeader) != 0 {
		t.Errorf("sealed a message that is not forwarded")
	}
}
