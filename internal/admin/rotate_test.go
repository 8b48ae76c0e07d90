package admin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

// zoneValue turns a zone-file TXT value into its text.
func zoneValue(v string) string {
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

func TestDKIMRotation(t *testing.T) {
	ctx := context.Background()
	a := newAdmin(t)
	now := time.Date(2026, 6, 5, 10, 0, 0, 0, time.UTC)
	a.Now = func() time.Time { return now }
	a.KeepRetired = 30 * 24 * time.Hour
	r := dnstest.NewResolver(nil)
	a.Resolver = r
	if _, err := a.AddDomain(ctx, DomainRequest{Domain: "example.com"}); err != nil {
		t.Fatal(err)
	}
	before, _ := a.ListDomains(ctx, Empty{})
	old := before[0].DKIMSelectors
	rot, err := a.RotateDKIM(ctx, DomainRequest{Domain: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rot.Records) != 2 || rot.AlreadyPending {
		t.Fatalf("rotation: %+v", rot)
	}
	// Same day as AddDomain: the selectors get a suffix.
	for _, rec := range rot.Records {
		if !strings.HasPrefix(rec.Name, "ph20260605e2.") && !strings.HasPrefix(rec.Name, "ph20260605r2.") {
			t.Errorf("record name %s", rec.Name)
		}
	}
	again, err := a.RotateDKIM(ctx, DomainRequest{Domain: "example.com"})
	if err != nil || !again.AlreadyPending || len(again.Records) != 2 {
		t.Fatalf("second rotate: %+v %v", again, err)
	}
	// Nothing published: nothing switches; the problem is said.
	chk, err := a.CheckDKIMRotation(ctx, DomainRequest{Domain: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(chk.Activated) != 0 {
		t.Fatalf("switched without DNS: %+v", chk)
	}
	for _, k := range chk.Keys {
		if k.State == KeyPending && !strings.Contains(k.Problem, "no TXT record") {
			t.Errorf("pending key %s: problem %q", k.Selector, k.Problem)
		}
	}
	// Publish the Ed25519 record, and a wrong record for RSA.
	zone := dnstest.Zone{}
	for _, rec := range rot.Records {
		name := strings.TrimSuffix(rec.Name, ".")
		if strings.Contains(name, "e2.") {
			zone[name] = dnstest.Records{TXT: []string{zoneValue(rec.Value)}}
		} else {
			zone[name] = dnstest.Records{TXT: []string{"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="}}
		}
	}
	r.Set(zone)
	chk, err = a.CheckDKIMRotation(ctx, DomainRequest{Domain: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(chk.Activated) != 1 || chk.Activated[0] != "ph20260605e2" || len(chk.Retired) != 1 || chk.Retired[0] != old[0] {
		t.Fatalf("check: activated %v retired %v (old %v)", chk.Activated, chk.Retired, old)
	}
	states := map[string]string{}
	for _, k := range chk.Keys {
		states[k.Selector] = k.State
		if k.Selector == "ph20260605r2" && !strings.Contains(k.Problem, "does not publish this key") {
			t.Errorf("RSA problem %q", k.Problem)
		}
	}
	if states["ph20260605e2"] != KeyActive || states["ph20260605r2"] != KeyPending || states[old[0]] != KeyRetired || states[old[1]] != KeyActive {
		t.Errorf("states %v", states)
	}
	// The retired key stays in the records for KeepRetired, then goes.
	recs, _ := a.DomainRecords(ctx, DomainRequest{Domain: "example.com"})
	if !hasRecord(recs, old[0]+"._domainkey.example.com.", "retired: keep it published until 2026-07-05") {
		t.Errorf("retired key not listed:\n%v", recs)
	}
	now = now.Add(31 * 24 * time.Hour)
	recs, _ = a.DomainRecords(ctx, DomainRequest{Domain: "example.com"})
	if hasRecord(recs, old[0]+"._domainkey.example.com.", "") {
		t.Errorf("retired key still listed after keep_retired")
	}
}

func hasRecord(recs []Record, name, comment string) bool {
	for _, r := range recs {
		if r.Name == name && strings.Contains(r.Comment, comment) {
			return true
		}
	}
	return false
}
