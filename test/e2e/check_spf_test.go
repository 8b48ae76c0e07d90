package e2e

import (
	"strings"
	"testing"

	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

// TestCheckSPFConformance runs "posthorn check spf" through the built
// binary against a DNS server on loopback: records with syntax errors are
// permerror wherever the error is (RFC 7208 §4.6), a MAIL FROM that does
// not parse still gets a result (RFC 7208 §4.3), and %{p} expands to the
// validated name of the client (RFC 7208 §7.3).
func TestCheckSPFConformance(t *testing.T) {
	srv, err := dnstest.NewServer(dnstest.Zone{
		"10.2.0.192.in-addr.arpa": {PTR: []string{"mail.sender.example."}},
		"mail.sender.example":     {A: []string{"192.0.2.10"}},
		"sender.example":          {TXT: []string{"v=spf1 ip4:192.0.2.10 -all"}},
		"trailing.example":        {TXT: []string{"v=spf1 ip4:192.0.2.10 -all moo"}},
		"badcidr.example":         {TXT: []string{"v=spf1 ip4:192.0.2.10/33 -all"}},
		"emptyexp.example":        {TXT: []string{"v=spf1 ip4:192.0.2.10 exp= -all"}},
		"twoexp.example":          {TXT: []string{"v=spf1 ip4:192.0.2.10 -all exp=a.example exp=b.example"}},
		"badmacro.example":        {TXT: []string{"v=spf1 ip4:192.0.2.10 exists:%(i).x.example -all"}},
		"explain.example":         {TXT: []string{"v=spf1 -all exp=why.explain.example"}},
		"why.explain.example":     {TXT: []string{"%{l} may not send from %{i}, connect from %{p}"}},
	}, dnstest.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	run := func(from string) (first, out string) {
		t.Helper()
		out, errOut, code := posthorn(t, "", "check", "spf", "--ip", "192.0.2.10", "--helo", "mail.sender.example",
			"--from", from, "--dns", srv.Addr)
		if code != 0 {
			t.Errorf("check spf --from %q: exit %d\n%s%s", from, code, out, errOut)
		}
		first, _, _ = strings.Cut(out, "\n")
		return first, out
	}
	for _, tc := range []struct{ from, want, says string }{
		// Syntax errors anywhere in the record.
		{"a@trailing.example", "permerror", `term "moo"`},
		{"a@badcidr.example", "permerror", "/33"},
		{"a@emptyexp.example", "permerror", "empty domain"},
		{"a@twoexp.example", "permerror", "exp= appears twice"},
		{"a@badmacro.example", "permerror", "macro"},
		// A MAIL FROM that is not an address.
		{"foo@[192.0.2.10]", "none", "not a domain name SPF can check"},
		{"foo@a..sender.example", "none", "not a domain name SPF can check"},
		{"@sender.example", "pass", "postmaster@sender.example"},
		{"Macro Error@explain.example", "fail", "explanation published by the domain: Macro Error may not send from 192.0.2.10, connect from mail.sender.example"},
	} {
		first, out := run(tc.from)
		if first != tc.want || !strings.Contains(out, tc.says) {
			t.Errorf("check spf --from %q: %q, want %q saying %q\n%s", tc.from, first, tc.want, tc.says, out)
		}
	}
}
