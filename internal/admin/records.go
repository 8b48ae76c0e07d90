package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dkim"
)

// Record is one DNS resource record the operator publishes.
type Record struct {
	Name    string `json:"name"` // fully qualified, with trailing dot
	TTL     int    `json:"ttl"`
	Type    string `json:"type"`
	Value   string `json:"value"` // RDATA in zone-file syntax
	Comment string `json:"comment,omitempty"`
}

// String formats r as a zone-file line, preceded by its comment.
func (r Record) String() string {
	line := fmt.Sprintf("%-40s %d IN %-5s %s", r.Name, r.TTL, r.Type, r.Value)
	if r.Comment == "" {
		return line
	}
	return "; " + r.Comment + "\n" + line
}

const recordTTL = 3600

// MTASTSDefaultMaxAge is the policy's max_age when none is configured.
const MTASTSDefaultMaxAge = 7 * 24 * time.Hour

// MTASTSPolicy returns the MTA-STS policy text for a domain whose MX is
// host (RFC 8461 §3.2). An empty mode is "enforce"; maxAge 0 is
// MTASTSDefaultMaxAge. The HTTPS server serves exactly this text.
func MTASTSPolicy(mode string, host addr.Domain, maxAge time.Duration) string {
	if mode == "" {
		mode = "enforce"
	}
	if maxAge <= 0 {
		maxAge = MTASTSDefaultMaxAge
	}
	return fmt.Sprintf("version: STSv1\r\nmode: %s\r\nmx: %s\r\nmax_age: %d\r\n", mode, host.ASCII, int64(maxAge/time.Second))
}

// MTASTSID is the id published in the _mta-sts TXT record; it changes
// whenever the policy text changes (RFC 8461 §3.1: 1–32 alphanumerics).
func MTASTSID(policy string) string {
	sum := sha256.Sum256([]byte(policy))
	return hex.EncodeToString(sum[:10])
}

// mtastsComment explains the _mta-sts record in the policy's mode, and
// how to go from testing to enforce (docs/http.md).
func mtastsComment(mode string, name addr.Domain) string {
	where := "the policy is served at https://mta-sts." + name.ASCII + "/.well-known/mta-sts.txt"
	switch mode {
	case "testing":
		return "MTA-STS (RFC 8461), mode testing: senders report TLS failures (TLS-RPT) but still deliver; " +
			"once the reports are clean, set [mtasts] mode = \"enforce\", restart and republish this record (its id changes); " + where
	case "none":
		return "MTA-STS (RFC 8461), mode none: withdraws a policy published before; " + where
	}
	return "MTA-STS (RFC 8461): senders must use TLS to your MX; " + where
}

// txt quotes a TXT value, split into strings of at most 255 octets
// (RFC 1035 §3.3.14), which long RSA DKIM keys need.
func txt(s string) string {
	var parts []string
	for len(s) > 255 {
		parts = append(parts, `"`+s[:255]+`"`)
		s = s[255:]
	}
	parts = append(parts, `"`+s+`"`)
	if len(parts) == 1 {
		return parts[0]
	}
	return "( " + strings.Join(parts, " ") + " )"
}

// DomainRecords returns every DNS record a local domain needs: MX, SPF,
// DKIM (each active and pending selector, and retired ones for a while), DMARC with rua, MTA-STS, TLS-RPT, SRV records
// for client autoconfiguration (RFC 6186, RFC 8314), autoconfig names and
// CAA.
func (a *Admin) DomainRecords(ctx context.Context, r DomainRequest) ([]Record, error) {
	name, err := parseDomain(r.Domain)
	if err != nil {
		return nil, err
	}
	if _, err := a.Store.Domain(ctx, name); err != nil {
		return nil, storeErr(err, "domain "+name.String())
	}
	keys, err := a.Store.DKIMKeys(ctx, name)
	if err != nil {
		return nil, err
	}
	d := name.ASCII + "."
	host := a.Hostname.ASCII + "."
	rua := "mailto:postmaster@" + name.ASCII
	recs := []Record{
		{Name: d, Type: "MX", Value: "10 " + host, Comment: "Mail for " + name.String() + " goes to " + a.Hostname.String()},
		{Name: d, Type: "TXT", Value: txt("v=spf1 mx ~all"), Comment: "SPF (RFC 7208): only the MX hosts send for this domain"},
	}
	if a.Hostname.ASCII != name.ASCII {
		recs = append(recs, Record{Name: host, Type: "TXT", Value: txt("v=spf1 a -all"), Comment: "SPF for the HELO name of the mail host"})
	}
	recs = append(recs, Record{Name: host, Type: "A", Value: "<IPv4 address of " + a.Hostname.ASCII + ">",
		Comment: "Address records of the mail host (fill in; add a matching PTR at your provider)"})
	recs = append(recs, Record{Name: host, Type: "AAAA", Value: "<IPv6 address of " + a.Hostname.ASCII + ">"})
	for _, k := range keys {
		comment := fmt.Sprintf("DKIM key %s (%s, %s)", k.Selector, k.Algorithm, k.State)
		if k.State == KeyRetired {
			until := a.retiredUntil(k, keys)
			if until.IsZero() {
				continue
			}
			comment = fmt.Sprintf("DKIM key %s (%s, retired: keep it published until %s so mail it signed still verifies, then remove it)",
				k.Selector, k.Algorithm, until.UTC().Format("2006-01-02"))
		}
		v, err := dkim.Record(k.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("DKIM key %s: %w", k.Selector, err)
		}
		recs = append(recs, Record{Name: k.Selector + "._domainkey." + d, Type: "TXT", Value: txt(v), Comment: comment})
	}
	policy := MTASTSPolicy(a.MTASTSMode, a.Hostname, a.MTASTSMaxAge)
	recs = append(recs,
		Record{Name: "_dmarc." + d, Type: "TXT", Value: txt("v=DMARC1; p=reject; rua=" + rua),
			Comment: "DMARC (RFC 7489): reject mail that fails SPF and DKIM alignment; aggregate reports to the postmaster"},
		Record{Name: "_mta-sts." + d, Type: "TXT", Value: txt("v=STSv1; id=" + MTASTSID(policy)),
			Comment: mtastsComment(a.MTASTSMode, name)},
		Record{Name: "mta-sts." + d, Type: "CNAME", Value: host},
		Record{Name: "_smtp._tls." + d, Type: "TXT", Value: txt("v=TLSRPTv1; rua=" + rua),
			Comment: "TLS-RPT (RFC 8460): daily reports of TLS failures"},
		Record{Name: "_submissions._tcp." + d, Type: "SRV", Value: "0 1 465 " + host,
			Comment: "Client autoconfiguration (RFC 6186, RFC 8314): implicit TLS preferred"},
		Record{Name: "_submission._tcp." + d, Type: "SRV", Value: "10 1 587 " + host},
		Record{Name: "_imaps._tcp." + d, Type: "SRV", Value: "0 1 993 " + host},
		Record{Name: "_imap._tcp." + d, Type: "SRV", Value: "10 1 143 " + host},
		Record{Name: "_pop3._tcp." + d, Type: "SRV", Value: "0 0 0 .", Comment: "POP3 is not offered (RFC 6186 §4)"},
		Record{Name: "_pop3s._tcp." + d, Type: "SRV", Value: "0 0 0 ."},
		Record{Name: "autoconfig." + d, Type: "CNAME", Value: host, Comment: "Thunderbird and Outlook autoconfiguration"},
		Record{Name: "autodiscover." + d, Type: "CNAME", Value: host},
		Record{Name: d, Type: "CAA", Value: `0 issue "letsencrypt.org"`,
			Comment: "CAA (RFC 8659): only Let's Encrypt may issue certificates for this domain"},
	)
	for i := range recs {
		recs[i].TTL = recordTTL
	}
	return recs, nil
}
