package dkim

import (
	"bytes"
	"crypto"
	"strings"
	"testing"

	msgauth "github.com/emersion/go-msgauth/dkim"

	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

// TestVerifyKeyPolicy: what the key record asks of a signature (RFC 6376
// §3.6.1) and the tag-list grammar of §3.2, checked by posthorn on top of
// go-msgauth: t=s (the i= domain must be d= itself), a key type that does
// not match a= ("inappropriate key algorithm", permerror, not a key-size
// verdict), and empty tag-specs (";;") in the signature or the key.
func TestVerifyKeyPolicy(t *testing.T) {
	ed, rsaKey, edPEM, rsaPEM := testKeys(t)
	edRec, err := Record([]byte(edPEM))
	if err != nil {
		t.Fatal(err)
	}
	rsaRec, err := Record([]byte(rsaPEM))
	if err != nil {
		t.Fatal(err)
	}
	keyRec := func(rec, old, new string) string {
		if !strings.Contains(rec, old) {
			t.Fatalf("%q lacks %q", rec, old)
		}
		return strings.Replace(rec, old, new, 1)
	}
	z := dnstest.Zone{}
	for sel, rec := range map[string]string{
		"ed":        edRec,
		"rsa":       rsaRec,
		"strict":    keyRec(edRec, "k=ed25519;", "k=ed25519; t=s;"),
		"strict2":   keyRec(edRec, "k=ed25519;", "k=ed25519; t = y : s ;"),
		"testing":   keyRec(edRec, "k=ed25519;", "k=ed25519; t=y;"),
		"emptytag":  keyRec(edRec, "k=ed25519;", "k=ed25519;;"),
		"emptytag2": keyRec(edRec, "k=ed25519;", "k=ed25519; ;"),
		"trailing":  edRec + ";",
		"edasrsa":   keyRec(edRec, "k=ed25519;", "k=ed25519;"),
		"rsaased":   rsaRec,
	} {
		z[sel+"._domainkey.posthorn.example"] = dnstest.Records{TXT: []string{rec}}
	}
	res := dnstest.NewResolver(z)
	const msg = "From: Alice <alice@posthorn.example>\r\nTo: bob@other.example\r\nSubject: key policy\r\n\r\nHello.\r\n"
	sign := func(sel, identifier string, key crypto.Signer) string {
		var b bytes.Buffer
		err := msgauth.Sign(&b, strings.NewReader(msg), &msgauth.SignOptions{
			Domain: "posthorn.example", Selector: sel, Identifier: identifier, Signer: key, Hash: crypto.SHA256,
			HeaderKeys: []string{"From", "To", "Subject"},
		})
		if err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	for _, c := range []struct {
		name, msg, want, why string
	}{
		{"plain key", sign("ed", "", ed), "pass", ""},
		{"plain key, i= subdomain", sign("ed", "@news.posthorn.example", ed), "pass", ""},
		{"t=s, no i=", sign("strict", "", ed), "pass", ""},
		{"t=s, i= at d=", sign("strict", "alice@posthorn.example", ed), "pass", ""},
		{"t=s, i= subdomain", sign("strict", "@news.posthorn.example", ed), "permerror",
			"the key at strict._domainkey.posthorn.example has t=s (strict), so the i= domain must be posthorn.example itself, not a subdomain: i=@news.posthorn.example"},
		{"t=y:s, i= subdomain", sign("strict2", "alice@news.posthorn.example", ed), "permerror", "has t=s"},
		{"t=y, i= subdomain", sign("testing", "@news.posthorn.example", ed), "pass", ""},
		{"ed25519 key for rsa-sha256", sign("edasrsa", "", rsaKey), "permerror",
			"inappropriate key algorithm: the signature uses a=rsa-sha256 but the key at edasrsa._domainkey.posthorn.example is k=ed25519"},
		{"rsa key for ed25519-sha256", sign("rsaased", "", ed), "permerror",
			"inappropriate key algorithm: the signature uses a=ed25519-sha256 but the key at rsaased._domainkey.posthorn.example is k=rsa"},
		{"key record with ;;", sign("emptytag", "", ed), "permerror", "key record at emptytag._domainkey.posthorn.example is malformed: malformed tag list: empty tag-spec"},
		{"key record with ; ;", sign("emptytag2", "", ed), "permerror", "is malformed"},
		{"key record with a trailing ;", sign("trailing", "", ed), "pass", ""},
		{"signature with ;;", strings.Replace(sign("ed", "", ed), "a=ed25519-sha256;", "a=ed25519-sha256;;", 1), "permerror", "malformed signature: malformed tag list: empty tag-spec"},
		{"signature with ; ;", strings.Replace(sign("ed", "", ed), "a=ed25519-sha256;", "a=ed25519-sha256; ;", 1), "permerror", "malformed signature"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "signature with ;;" && !strings.Contains(c.msg, ";;") {
				t.Fatalf("the signature was not changed:\n%s", c.msg)
			}
			rs := verify(t, res, c.msg)
			if len(rs) != 1 || string(rs[0].Status) != c.want || !strings.Contains(rs[0].Explanation, c.why) {
				t.Fatalf("got %+v, want %s: %q", rs, c.want, c.why)
			}
		})
	}
}
