package smtpclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
	"github.com/posthorn/posthorn/internal/mtasts"
)

// Every route applies the same transport-security policy (issue 12 §3): a
// direct MX delivery, a backup MX delivering to the primary, and a
// smarthost. Each peer below must defer the mail on every route, and the
// matching TLSA must deliver it with DANE on every route.
func TestEveryRouteAppliesTLSPolicy(t *testing.T) {
	pki := newPKI(t, "mx1.example.test")
	spki := sha256.Sum256(pki.leafX.RawSubjectPublicKeyInfo)
	good := dns.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: spki[:]}
	bad := dns.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: bytes.Repeat([]byte{1}, 32)}
	// example.test: mx1 is the primary, this server (out.posthorn.test)
	// the backup at 20. The smarthost route uses mx1 as the relay, on
	// port 25, so the same TLSA records apply to it.
	zone := func(authentic bool, tlsa ...dns.TLSA) dnstest.Zone {
		z := dnstest.Zone{
			"example.test":      {MX: []dnstest.MX{{Pref: 10, Host: "mx1.example.test"}, {Pref: 20, Host: "out.posthorn.test"}}, Authentic: authentic},
			"mx1.example.test":  {A: []string{"192.0.2.1"}, Authentic: authentic},
			"out.posthorn.test": {A: []string{"192.0.2.9"}, Authentic: authentic},
		}
		if len(tlsa) > 0 {
			z["_25._tcp.mx1.example.test"] = dnstest.Records{TLSA: tlsa, Authentic: authentic}
		}
		return z
	}
	routes := []struct {
		name string
		send func(c *Client, m Message) Result
	}{
		{"direct", func(c *Client, m Message) Result { return c.Deliver(context.Background(), dom, m) }},
		{"backup", func(c *Client, m Message) Result { return c.DeliverBackup(context.Background(), dom, m) }},
		{"smarthost", func(c *Client, m Message) Result {
			return c.DeliverVia(context.Background(), Relay{Host: "mx1.example.test", Port: 25}, m)
		}},
	}
	enforce := &mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"mx1.example.test"}, MaxAge: time.Hour}
	peers := []struct {
		name     string
		zone     dnstest.Zone
		starttls bool
		policy   Policy
		deliver  bool
	}{
		{"DANE matching TLSA", zone(true, good), true, Policy{}, true},
		{"DANE wrong TLSA", zone(true, bad), true, Policy{}, false},
		{"DANE without STARTTLS", zone(true, good), false, Policy{}, false},
		{"require_tls_domains, untrusted certificate", zone(false), true, Policy{RequireVerifiedTLS: true}, false},
		{"require_tls_domains without STARTTLS", zone(false), false, Policy{RequireVerifiedTLS: true}, false},
		{"MTA-STS enforce, untrusted certificate", zone(false), true, Policy{MTASTS: enforce}, false},
		{"MTA-STS enforce without STARTTLS", zone(false), false, Policy{MTASTS: enforce}, false},
	}
	for _, p := range peers {
		for _, r := range routes {
			t.Run(p.name+"/"+r.name, func(t *testing.T) {
				s := startFake(t)
				if p.starttls {
					s = tlsServer(t, pki)
				}
				c, _ := newClient(t, p.zone, map[string]*fakeServer{"192.0.2.1": s})
				pol := p.policy
				c.Policy = func(_ context.Context, d addr.Domain) (Policy, error) {
					if d.ASCII != "example.test" {
						t.Errorf("policy asked for %s", d)
					}
					return pol, nil
				}
				res := r.send(c, msg(simpleBody, "a@example.test"))
				rr := res.PerRecipient[0]
				if p.deliver {
					wantDelivered(t, res)
					if res.TLS.Policy != "dane" || !res.TLS.Verified {
						t.Errorf("TLS %+v", res.TLS)
					}
					return
				}
				if rr.Delivered || rr.Permanent || rr.Code/100 != 4 {
					t.Errorf("want deferred, got %+v (err %v)", rr, res.Err)
				}
				if n := len(s.Data()); n != 0 {
					t.Errorf("the peer received %d messages", n)
				}
			})
		}
	}
}

// A backup MX sends only to better MX hosts than itself, and holds the
// mail when there is none.
func TestDeliverBackupPreference(t *testing.T) {
	s := startFake(t)
	z := dnstest.Zone{
		"example.test": {MX: []dnstest.MX{{Pref: 20, Host: "out.posthorn.test"}, {Pref: 10, Host: "mx1.example.test"},
			{Pref: 5, Host: "best.example.test"}, {Pref: 30, Host: "mx2.example.test"}}},
		"best.example.test": {A: []string{"192.0.2.5"}},
		"mx1.example.test":  {A: []string{"192.0.2.1"}},
		"mx2.example.test":  {A: []string{"192.0.2.2"}},
		"out.posthorn.test": {A: []string{"192.0.2.9"}},
	}
	self, worse := startFake(t), startFake(t)
	c, _ := newClient(t, z, map[string]*fakeServer{"192.0.2.1": s, "192.0.2.9": self, "192.0.2.2": worse})
	res := c.DeliverBackup(context.Background(), dom, msg(simpleBody, "a@example.test"))
	wantDelivered(t, res) // best is down (no listener), mx1 takes it
	if len(s.Data()) != 1 || len(self.Data())+len(worse.Data()) != 0 {
		t.Errorf("mx1 %d, self %d, worse %d", len(s.Data()), len(self.Data()), len(worse.Data()))
	}
	z["example.test"] = dnstest.Records{MX: []dnstest.MX{{Pref: 10, Host: "out.posthorn.test"}, {Pref: 20, Host: "mx2.example.test"}}}
	c, _ = newClient(t, z, nil)
	rr := c.DeliverBackup(context.Background(), dom, msg(simpleBody, "a@example.test")).PerRecipient[0]
	if rr.Delivered || rr.Permanent || rr.Code != 451 {
		t.Errorf("no better MX: %+v", rr)
	}
}

// A REQUIRETLS bounce says why: a host without STARTTLS is not blamed
// for its certificate (issue 12 §3).
func TestRequireTLSReason(t *testing.T) {
	s := startFake(t, "REQUIRETLS") // no STARTTLS
	c, _ := newClient(t, testZone(), map[string]*fakeServer{"192.0.2.1": s, "192.0.2.2": s})
	m := msg(simpleBody, "a@example.test")
	m.RequireTLS = true
	r := c.Deliver(context.Background(), dom, m).PerRecipient[0]
	if !r.Permanent || r.Enhanced != "5.7.30" || !strings.Contains(r.Text, "STARTTLS") || strings.Contains(r.Text, "certificate") {
		t.Errorf("%+v", r)
	}
}

// A smarthost's 535 5.7.8 stays in the text as it was said, and the mail
// is deferred (a credentials problem is ours to fix), not turned into a
// made-up 435 4.7.8.
func TestRelayAuthRefusedKeepsReply(t *testing.T) {
	pki := newPKI(t, "relay.example.test")
	s := tlsServer(t, pki, "AUTH PLAIN")
	s.reply = func(cmd string) string {
		if strings.HasPrefix(cmd, "AUTH") {
			return "535 5.7.8 Error: authentication failed"
		}
		return ""
	}
	z := dnstest.Zone{"relay.example.test": {A: []string{"192.0.2.50"}}}
	c, _ := newClient(t, z, map[string]*fakeServer{"192.0.2.50": s})
	c.TLSConfig = func(string) *tls.Config { return &tls.Config{RootCAs: pki.pool} }
	r := c.DeliverVia(context.Background(), Relay{Host: "relay.example.test", Port: 587, Username: "u", Password: "p"}, msg(simpleBody, "x@elsewhere.test")).PerRecipient[0]
	if r.Delivered || r.Permanent || !strings.Contains(r.Text, "535 5.7.8 Error: authentication failed") || strings.Contains(r.Text, "435") || r.Code == 435 {
		t.Errorf("%+v", r)
	}
}

// DomainPolicies: the local requirement by domain (any case), nothing for
// other domains, no MTA-STS when off.
func TestDomainPoliciesLookup(t *testing.T) {
	p := &DomainPolicies{Require: map[string]bool{"secure.example": true}}
	for d, want := range map[string]bool{"secure.example": true, "Secure.Example": true, "other.example": false} {
		pol, err := p.Lookup(context.Background(), addr.MustParseDomain(d))
		if err != nil || pol.RequireVerifiedTLS != want || pol.MTASTS != nil {
			t.Errorf("%s: %+v, %v", d, pol, err)
		}
	}
}
