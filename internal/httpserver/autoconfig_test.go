package httpserver

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
)

// Mirrors of the schemas the clients read, written from their
// documentation rather than from the server's types: Thunderbird's
// clientConfig 1.1 and Outlook's Autodiscover POX response.
type thunderbirdConfig struct {
	XMLName  xml.Name `xml:"clientConfig"`
	Version  string   `xml:"version,attr"`
	Provider struct {
		ID       string   `xml:"id,attr"`
		Domains  []string `xml:"domain"`
		Incoming []struct {
			Type           string `xml:"type,attr"`
			Hostname       string `xml:"hostname"`
			Port           int    `xml:"port"`
			SocketType     string `xml:"socketType"`
			Username       string `xml:"username"`
			Authentication string `xml:"authentication"`
		} `xml:"incomingServer"`
		Outgoing []struct {
			Type           string `xml:"type,attr"`
			Hostname       string `xml:"hostname"`
			Port           int    `xml:"port"`
			SocketType     string `xml:"socketType"`
			Username       string `xml:"username"`
			Authentication string `xml:"authentication"`
		} `xml:"outgoingServer"`
	} `xml:"emailProvider"`
}

type outlookResponse struct {
	XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response struct {
		XMLName xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
		Account struct {
			AccountType string `xml:"AccountType"`
			Action      string `xml:"Action"`
			Protocol    []struct {
				Type         string `xml:"Type"`
				Server       string `xml:"Server"`
				Port         int    `xml:"Port"`
				LoginName    string `xml:"LoginName"`
				SSL          string `xml:"SSL"`
				Encryption   string `xml:"Encryption"`
				SPA          string `xml:"SPA"`
				AuthRequired string `xml:"AuthRequired"`
			} `xml:"Protocol"`
		} `xml:"Account"`
	} `xml:"Response"`
}

func TestThunderbirdAutoconfig(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	var first []byte
	for _, q := range []req{
		{target: "/mail/config-v1.1.xml?emailaddress=alice%40example.com", host: "autoconfig.example.com", tls: true},
		{target: "/mail/config-v1.1.xml", host: "autoconfig.example.com", tls: true},
		{target: "/.well-known/autoconfig/mail/config-v1.1.xml", host: "example.com", tls: true},
		{target: "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=bob%40EXAMPLE.com", host: "example.com", tls: true},
	} {
		w := do(h, q)
		if w.Code != 200 {
			t.Fatalf("%s %s: %d %q", q.host, q.target, w.Code, w.Body)
		}
		if first == nil {
			first = w.Body.Bytes()
			golden(t, "autoconfig.xml", first)
		} else if w.Body.String() != string(first) {
			t.Errorf("%s %s: differs from the first answer:\n%s", q.host, q.target, w.Body)
		}
	}
	var c thunderbirdConfig
	if err := xml.Unmarshal(first, &c); err != nil {
		t.Fatal(err)
	}
	if c.Version != "1.1" || c.Provider.ID != "example.com" || len(c.Provider.Domains) != 1 || c.Provider.Domains[0] != "example.com" {
		t.Errorf("provider %+v", c.Provider)
	}
	type srv struct {
		typ    string
		port   int
		socket string
	}
	var got []srv
	for _, s := range c.Provider.Incoming {
		got = append(got, srv{s.Type, s.Port, s.SocketType})
		if s.Hostname != "mail.example.net" || s.Username != "%EMAILADDRESS%" || s.Authentication != "password-cleartext" {
			t.Errorf("incoming %+v", s)
		}
	}
	for _, s := range c.Provider.Outgoing {
		got = append(got, srv{s.Type, s.Port, s.SocketType})
		if s.Hostname != "mail.example.net" || s.Username != "%EMAILADDRESS%" || s.Authentication != "password-cleartext" {
			t.Errorf("outgoing %+v", s)
		}
	}
	want := []srv{{"imap", 993, "SSL"}, {"imap", 143, "STARTTLS"}, {"smtp", 465, "SSL"}, {"smtp", 587, "STARTTLS"}}
	if len(got) != len(want) {
		t.Fatalf("servers %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("server %d: %v, want %v", i, got[i], want[i])
		}
	}
}

func TestAutoconfigInputs(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	long := strings.Repeat("a", 400) + "@example.com"
	for _, tc := range []struct {
		name string
		q    req
		code int
	}{
		{"foreign address", req{target: "/mail/config-v1.1.xml?emailaddress=alice%40example.org", host: "autoconfig.example.com", tls: true}, 404},
		{"unknown host domain", req{target: "/mail/config-v1.1.xml", host: "autoconfig.example.org", tls: true}, 404},
		{"not an address", req{target: "/mail/config-v1.1.xml?emailaddress=%3Cscript%3E", host: "autoconfig.example.com", tls: true}, 400},
		{"too long", req{target: "/mail/config-v1.1.xml?emailaddress=" + url.QueryEscape(long), host: "autoconfig.example.com", tls: true}, 400},
		{"mobileconfig foreign", req{target: "/apple/posthorn.mobileconfig?emailaddress=a%40example.org", host: "example.com", tls: true}, 404},
		{"mobileconfig missing", req{target: "/apple/posthorn.mobileconfig", host: "example.com", tls: true}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if w := do(h, tc.q); w.Code != tc.code {
				t.Errorf("got %d %q, want %d", w.Code, w.Body, tc.code)
			}
		})
	}
}

const outlookRequest = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>%s</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`

func TestOutlookAutodiscover(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	post := do(h, req{method: "POST", target: "/autodiscover/autodiscover.xml", host: "autodiscover.example.com", tls: true,
		body: strings.Replace(outlookRequest, "%s", "alice@example.com", 1)})
	if post.Code != 200 {
		t.Fatalf("POST: %d %q", post.Code, post.Body)
	}
	golden(t, "autodiscover.xml", post.Body.Bytes())
	get := do(h, req{target: "/autodiscover/autodiscover.xml?email=alice%40example.com", host: "autodiscover.example.com", tls: true})
	if get.Code != 200 || get.Body.String() != post.Body.String() {
		t.Errorf("GET: %d %q", get.Code, get.Body)
	}
	var r outlookResponse
	if err := xml.Unmarshal(post.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	a := r.Response.Account
	if a.AccountType != "email" || a.Action != "settings" || len(a.Protocol) != 3 {
		t.Fatalf("account %+v", a)
	}
	for i, want := range []struct {
		typ  string
		port int
		enc  string
	}{{"IMAP", 993, ""}, {"SMTP", 465, ""}, {"SMTP", 587, "TLS"}} {
		p := a.Protocol[i]
		if p.Type != want.typ || p.Port != want.port || p.Encryption != want.enc || p.Server != "mail.example.net" ||
			p.LoginName != "alice@example.com" || p.SSL != "on" || p.SPA != "off" || p.AuthRequired != "on" {
			t.Errorf("protocol %d: %+v", i, p)
		}
	}

	// Escaping: a quoted localpart with XML specials comes back intact.
	odd := `"a&b<c>"@example.com`
	w := do(h, req{method: "POST", target: "/Autodiscover/Autodiscover.xml", host: "example.com", tls: true,
		body: strings.Replace(outlookRequest, "%s", "&quot;a&amp;b&lt;c&gt;&quot;@example.com", 1)})
	if w.Code != 200 {
		t.Fatalf("odd address: %d %q", w.Code, w.Body)
	}
	r = outlookResponse{}
	if err := xml.Unmarshal(w.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if got := r.Response.Account.Protocol[0].LoginName; got != odd {
		t.Errorf("LoginName %q, want %q", got, odd)
	}

	for _, tc := range []struct {
		name string
		q    req
		code int
	}{
		{"malformed", req{method: "POST", body: "<Autodiscover><Request>"}, 400},
		{"no address", req{method: "POST", body: "<Autodiscover/>"}, 400},
		{"foreign", req{method: "POST", body: strings.Replace(outlookRequest, "%s", "x@example.org", 1)}, 404},
		{"too large", req{method: "POST", body: "<Autodiscover>" + strings.Repeat(" ", maxBody+10) + "</Autodiscover>"}, 413},
		{"PUT", req{method: "PUT", body: ""}, 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.target, tc.q.host, tc.q.tls = "/autodiscover/autodiscover.xml", "autodiscover.example.com", true
			if w := do(h, tc.q); w.Code != tc.code {
				t.Errorf("got %d %q, want %d", w.Code, w.Body, tc.code)
			}
		})
	}
}

// TestAppleMobileconfig checks the profile with Python's plistlib, an
// independent plist parser.
func TestAppleMobileconfig(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	w := do(h, req{target: "/apple/posthorn.mobileconfig?emailaddress=alice%40example.com", host: "example.com", tls: true})
	if w.Code != 200 {
		t.Fatalf("%d %q", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/x-apple-aspen-config" {
		t.Errorf("Content-Type %q", ct)
	}
	golden(t, "alice.mobileconfig", w.Body.Bytes())
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3 for plistlib")
	}
	script := `
import plistlib, sys
p = plistlib.loads(sys.stdin.buffer.read())
assert p["PayloadType"] == "Configuration", p
assert p["PayloadVersion"] == 1
a = p["PayloadContent"][0]
assert a["PayloadType"] == "com.apple.mail.managed", a
assert a["EmailAccountType"] == "EmailTypeIMAP"
assert a["EmailAddress"] == "alice@example.com"
assert a["IncomingMailServerHostName"] == "mail.example.net"
assert a["IncomingMailServerPortNumber"] == 993 and a["IncomingMailServerUseSSL"] is True
assert a["OutgoingMailServerPortNumber"] == 465 and a["OutgoingMailServerUseSSL"] is True
assert a["IncomingMailServerUsername"] == a["OutgoingMailServerUsername"] == "alice@example.com"
assert a["IncomingMailServerAuthentication"] == "EmailAuthPassword"
assert a["PayloadUUID"] != p["PayloadUUID"]
print("ok")
`
	cmd := exec.Command("/usr/bin/python3", "-c", script)
	cmd.Stdin = strings.NewReader(w.Body.String())
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("plistlib: %v\n%s", err, out)
	}
	// An address needing escaping stays a valid plist.
	w = do(h, req{target: "/apple/posthorn.mobileconfig?emailaddress=" + url.QueryEscape(`"a&b<c>"@example.com`), host: "example.com", tls: true})
	if w.Code != http.StatusOK {
		t.Fatalf("odd address: %d", w.Code)
	}
	cmd = exec.Command("/usr/bin/python3", "-c", `import plistlib,sys; print(plistlib.loads(sys.stdin.buffer.read())["PayloadContent"][0]["EmailAddress"])`)
	cmd.Stdin = strings.NewReader(w.Body.String())
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != `"a&b<c>"@example.com` {
		t.Errorf("plistlib on escaped address: %v %s", err, out)
	}
}
