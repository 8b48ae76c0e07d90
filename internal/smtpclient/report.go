package smtpclient

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/posthorn/posthorn/internal/dane"
	"github.com/posthorn/posthorn/internal/tlsrpt"
)

// report records one TLS session outcome for TLS-RPT (RFC 8460): typ ""
// means success. Relay sessions are not reported.
func (c *Client) report(t target, recs dane.Records, mode tlsMode, cn *conn, typ, detail string) {
	if c.TLSRPT == nil || t.relay != nil {
		return
	}
	p := tlsrpt.Policy{Type: tlsrpt.PolicyNotFound, Domain: t.domain.ASCII}
	switch {
	case recs.Present:
		p = tlsrpt.Policy{Type: tlsrpt.PolicyTLSA, Domain: t.domain.ASCII, MXHost: []string{t.host}}
		for _, r := range recs.Usable {
			p.String = append(p.String, fmt.Sprintf("%d %d %d %s", r.Usage, r.Selector, r.MatchingType, hex.EncodeToString(r.Data)))
		}
	case mode.sts != nil:
		p = tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: t.domain.ASCII, MXHost: mode.sts.MX,
			String: []string{"version: STSv1", "mode: " + string(mode.sts.Mode), fmt.Sprintf("max_age: %d", int64(mode.sts.MaxAge.Seconds()))}}
		for _, mx := range mode.sts.MX {
			p.String = append(p.String, "mx: "+mx)
		}
	}
	if typ == "" {
		c.TLSRPT.Success(p)
		return
	}
	c.TLSRPT.Failure(p, tlsrpt.Failure{
		ResultType:          typ,
		ReceivingMXHostname: strings.TrimSuffix(t.host, "."),
		ReceivingIP:         cn.ip,
		AdditionalInfo:      detail,
	})
}

// tlsInfo describes cn's TLS for Result.
func (cn *conn) tlsInfo() TLSInfo {
	if cn.tls == nil {
		return TLSInfo{Policy: "none"}
	}
	return TLSInfo{
		Version:  tlsVersion(cn.tls.Version),
		Cipher:   tlsCipher(cn.tls.CipherSuite),
		Verified: cn.verify,
		Policy:   cn.policy,
	}
}
