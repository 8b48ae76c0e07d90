package e2e

// Message authentication through the built binary: inbound SPF/DKIM/DMARC
// verdicts and their enforcement on the MX (the client address presented
// with XCLIENT, since loopback clients skip SPF and iprev by design),
// forged Authentication-Results removed, DKIM signatures on submitted mail
// verified by independent verifiers (dkimpy's dkimverify, npm mailauth)
// against the records "posthorn domain records" prints, "posthorn check
// dmarc" agreeing with the server, and the DMARC report records in the
// store.

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dkim"
	"github.com/posthorn/posthorn/internal/dmarc"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
	"github.com/posthorn/posthorn/internal/store"
)

const (
	dkimsignCmd   = "/usr/bin/dkimsign"
	dkimverifyCmd = "/usr/bin/dkimverify"
	senderIP      = "192.0.2.10" // authorised by sender.example's SPF record
	strangerIP    = "192.0.2.66" // authorised by nobody
	senderHELO    = "mail.sender.example"
)

// senderZone publishes SPF, DKIM and DMARC for the sender domains:
// sender.example (p=reject, DKIM key "sel"), other.example (p=quarantine,
// SPF -all), none.example (nothing). 192.0.2.10 has forward-confirmed
// reverse DNS.
func senderZone(dkimRecord string) dnstest.Zone {
	return dnstest.Zone{
		dnstest.ReverseName(netip.MustParseAddr(senderIP)): {PTR: []string{senderHELO + "."}},
		senderHELO:                      {A: []string{senderIP}, TXT: []string{"v=spf1 a -all"}},
		"sender.example":                {TXT: []string{"v=spf1 ip4:" + senderIP + " -all"}},
		"_dmarc.sender.example":         {TXT: []string{"v=DMARC1; p=reject; rua=mailto:rua@sender.example"}},
		"sel._domainkey.sender.example": {TXT: []string{dkimRecord}},
		"other.example":                 {TXT: []string{"v=spf1 -all"}},
		"_dmarc.other.example":          {TXT: []string{"v=DMARC1; p=quarantine"}},
	}
}

// inbound is one message sent to the MX through XCLIENT.
type inbound struct {
	name, ip, from, subject string
	file                    string // the message as sent (CRLF, no final CRLF)
}

// sendInbound sends msg from a client at ip (presented with XCLIENT) and
// returns swaks' transcript and exit code.
func sendInbound(t *testing.T, m *mailServer, in inbound) (string, int) {
	t.Helper()
	return swaks(t, "--server", m.smtp, "--xclient-addr", in.ip, "--xclient-helo", senderHELO, "--ehlo", senderHELO,
		"--from", in.from, "--to", "bob@example.com", "--data", "@"+in.file)
}

// TestMessageAuthentication is the end-to-end test of issue 5's "done
// when": inbound verdicts and enforcement, forged results removed,
// outbound signatures verified independently, check commands agreeing
// with the server, report records stored.
func TestMessageAuthentication(t *testing.T) {
	need(t, "swaks")
	for _, p := range []string{dkimsignCmd, dkimverifyCmd} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s missing: apt-get install -y python3-dkim", p)
		}
	}
	t.Parallel()
	dir := t.TempDir()
	keyPEM, err := dkim.GenerateKey(dkim.AlgRSA)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := dkim.Record(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "sender.pem")
	writeFile(t, keyFile, string(keyPEM))

	m := newMailServer(t, mailOptions{xclient: []string{"127.0.0.1/32"}, zone: senderZone(rec)})
	m.addUser("bob@example.com", bobPW)
	m.addUser("alice@example.com", alicePW)
	m.start()

	// A message of sender.example signed by dkimpy, with a forged result
	// under our authserv-id and a result of another server prepended
	// after signing (neither is signed).
	signedFile, _ := writeMessage(t, "signed.eml", dkimsignMessage(t, keyFile, crlf(`From: Sender <news@sender.example>
To: Bob <bob@example.com>
Subject: msgauth signed
Date: Fri, 05 Jun 2026 10:00:00 +0000
Message-ID: <signed-1@sender.example>

Signed by dkimpy.
`)))
	addForged(t, signedFile)
	unsignedFile, _ := writeMessage(t, "unsigned.eml", `From: Sender <news@sender.example>
To: Bob <bob@example.com>
Subject: msgauth forged sender
Date: Fri, 05 Jun 2026 10:01:00 +0000
Message-ID: <unsigned-1@sender.example>

Not from sender.example's servers.
`)
	otherFile, _ := writeMessage(t, "other.eml", `From: Other <a@other.example>
To: Bob <bob@example.com>
Subject: msgauth quarantined
Date: Fri, 05 Jun 2026 10:02:00 +0000
Message-ID: <other-1@other.example>

other.example sends from nowhere.
`)
	noneFile, _ := writeMessage(t, "none.eml", `From: None <a@none.example>
To: Bob <bob@example.com>
Subject: msgauth no policy
Date: Fri, 05 Jun 2026 10:03:00 +0000
Message-ID: <none-1@none.example>

none.example publishes nothing.
`)
	signed := inbound{"signed", senderIP, "bounce@sender.example", "msgauth signed", signedFile}
	rejected := inbound{"unsigned", strangerIP, "bounce@sender.example", "msgauth forged sender", unsignedFile}
	quarantined := inbound{"other", senderIP, "a@other.example", "msgauth quarantined", otherFile}
	nopolicy := inbound{"none", senderIP, "a@none.example", "msgauth no policy", noneFile}

	for _, in := range []inbound{signed, quarantined, nopolicy} {
		if out, code := sendInbound(t, m, in); code != 0 {
			t.Fatalf("%s: swaks exit %d\n%s", in.name, code, out)
		}
	}
	out, code := sendInbound(t, m, rejected)
	reply := regexp.MustCompile(`(?m)^<\*\* +(550 5\.7\.1 .*)$`).FindStringSubmatch(out)
	if code == 0 || reply == nil || !strings.Contains(reply[1], "Message rejected by the DMARC policy of the sender's domain: ") ||
		!strings.Contains(reply[1], "p=reject") {
		t.Fatalf("unsigned sender.example from %s: exit %d, want 550 5.7.1 with the reason\n%s", strangerIP, code, out)
	}

	// Submission: alice's message to bob is signed with both keys.
	subFile, _ := writeMessage(t, "submitted.eml", `From: Alice <alice@example.com>
To: Bob <bob@example.com>
Subject: msgauth submitted
Content-Type: text/plain

Signed by posthorn.
`)
	mustSwaks(t, "--server", m.submission, "--tls", "--auth", "PLAIN", "--auth-user", "alice@example.com",
		"--auth-password", alicePW, "--from", "alice@example.com", "--to", "bob@example.com", "--data", "@"+subFile)
	records := m.admin("domain", "records", "example.com")

	// The check command, on the messages as sent, from the same client.
	checks := map[string]string{}
	for _, in := range []inbound{signed, rejected, quarantined, nopolicy} {
		checks[in.name] = mustRun(t, "", "check", "dmarc", in.file, "--ip", in.ip, "--helo", senderHELO,
			"--from", in.from, "--dns", m.dns, "--config", m.config)
	}

	logs := m.stop()
	if !regexp.MustCompile(`msg="removed Authentication-Results claiming to be ours".* fields=2`).MatchString(logs) {
		t.Errorf("the removal of forged results is not logged")
	}
	bob := m.messages("bob@example.com")

	t.Run("signed", func(t *testing.T) {
		msg := oneBySubject(t, bob, signed.subject)
		ar := msg.Header("Authentication-Results")
		if msg.Mailbox != "INBOX" || !strings.HasPrefix(ar, "mail.example.com;") ||
			!regexp.MustCompile(`dkim=pass \([^)]*\) header\.d=sender\.example header\.s=sel`).MatchString(ar) ||
			!strings.Contains(ar, "spf=pass") || !strings.Contains(ar, "iprev=pass") ||
			!regexp.MustCompile(`dmarc=pass \(.*\) policy\.dmarc=none header\.from=sender\.example`).MatchString(ar) {
			t.Errorf("in %s with Authentication-Results: %s", msg.Mailbox, ar)
		}
		// Ours is the only field claiming mail.example.com; the other
		// server's field is kept.
		var ours, theirs int
		for _, f := range headerFields(msg.Full()) {
			name, v, _ := strings.Cut(f, ":")
			if !strings.EqualFold(name, "Authentication-Results") {
				continue
			}
			switch v := unfold(v); {
			case strings.HasPrefix(v, "mail.example.com;"):
				ours++
			case strings.HasPrefix(v, "relay.example.net;"):
				theirs++
			default:
				t.Errorf("unexpected Authentication-Results: %s", v)
			}
		}
		if ours != 1 || theirs != 1 || strings.Contains(msg.Full(), "forged by the sender") {
			t.Errorf("%d fields of ours (want 1), %d of relay.example.net (want 1):\n%s", ours, theirs, msg.Full())
		}
		sameVerdict(t, checks["signed"], "pass", "deliver the message", ar)
	})
	t.Run("rejected", func(t *testing.T) {
		if n := len(findBySubject(bob, rejected.subject)); n != 0 {
			t.Errorf("rejected message stored %d times", n)
		}
		out := checks["unsigned"]
		lines := strings.SplitN(out, "\n", 3)
		if len(lines) < 3 || lines[0] != "fail" || !strings.Contains(reply[1], lines[1]) ||
			!strings.Contains(out, "the server would: reject the message (550 5.7.1)") {
			t.Errorf("check dmarc disagrees with the server's %q:\n%s", reply[1], out)
		}
	})
	t.Run("quarantined", func(t *testing.T) {
		msg := oneBySubject(t, bob, quarantined.subject)
		ar := msg.Header("Authentication-Results")
		if msg.Mailbox != "Junk" || !strings.Contains(ar, "spf=fail") ||
			!regexp.MustCompile(`dmarc=fail \(.*\) policy\.dmarc=quarantine header\.from=other\.example`).MatchString(ar) {
			t.Errorf("in %s with Authentication-Results: %s", msg.Mailbox, ar)
		}
		sameVerdict(t, checks["other"], "fail", "deliver the message to Junk", ar)
	})
	t.Run("no policy", func(t *testing.T) {
		msg := oneBySubject(t, bob, nopolicy.subject)
		ar := msg.Header("Authentication-Results")
		if msg.Mailbox != "INBOX" || !strings.Contains(ar, "dkim=none") || !strings.Contains(ar, "dmarc=none") {
			t.Errorf("in %s with Authentication-Results: %s", msg.Mailbox, ar)
		}
		sameVerdict(t, checks["none"], "none", "deliver the message", ar)
	})
	t.Run("submitted", func(t *testing.T) {
		msg := oneBySubject(t, bob, "msgauth submitted")
		if msg.Header("Authentication-Results") != "" {
			t.Errorf("submitted mail checked: %s", msg.Header("Authentication-Results"))
		}
		verifySubmitted(t, msg.Full(), records)
	})
	t.Run("report records", func(t *testing.T) {
		checkReportRecords(t, filepath.Join(m.dir, "data", "store"))
	})
}

// dkimsignMessage signs msg (CRLF) for sender.example, selector sel, with
// dkimpy's dkimsign (rsa-sha256, relaxed/relaxed) and returns it with \n
// line ends, as writeMessage wants.
func dkimsignMessage(t *testing.T, keyFile, msg string) string {
	t.Helper()
	cmd := exec.Command(dkimsignCmd, "--hcanon", "relaxed", "--bcanon", "relaxed", "sel", "sender.example", keyFile)
	cmd.Stdin = strings.NewReader(msg)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dkimsign: %v\n%s", err, stderr.String())
	}
	if !strings.HasPrefix(string(out), "DKIM-Signature:") {
		t.Fatalf("dkimsign output:\n%s", out)
	}
	return strings.ReplaceAll(string(out), "\r\n", "\n")
}

// addForged prepends, above the signature, a result forged under our
// authserv-id (quoted and in another case, to be sure the comparison is
// not textual) and a genuine-looking one of another server.
func addForged(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	forged := "Authentication-Results: mail.example.com; dkim=pass header.d=example.com (forged by the sender)\r\n" +
		"Authentication-Results: (forged by the sender) \"MAIL.example.com\"; dmarc=pass header.from=example.com\r\n" +
		"Authentication-Results: relay.example.net; spf=pass smtp.mailfrom=bounce@sender.example\r\n"
	writeFile(t, file, forged+string(b))
}

// sameVerdict checks that "posthorn check dmarc" printed result on its
// first line, the action, and the Authentication-Results the server
// stored.
func sameVerdict(t *testing.T, out, result, action, storedAR string) {
	t.Helper()
	if first := strings.SplitN(out, "\n", 2)[0]; first != result {
		t.Errorf("check dmarc says %q, want %q:\n%s", first, result, out)
	}
	if !strings.Contains(out, "the server would: "+action+"\n") {
		t.Errorf("check dmarc does not say %q:\n%s", action, out)
	}
	_, fields, _ := strings.Cut(out, "the server would: ")
	var ar string
	for _, f := range headerFields(crlf(fields[strings.Index(fields, "\n")+1:])) {
		if v, ok := strings.CutPrefix(f, "Authentication-Results:"); ok {
			ar = unfold(v)
		}
	}
	if ar == "" || ar != storedAR {
		t.Errorf("check dmarc's Authentication-Results differ from the server's:\ncheck:  %s\nserver: %s", ar, storedAR)
	}
}

// verifySubmitted verifies both DKIM signatures of a submitted message
// with dkimverify (in a network namespace whose DNS serves the TXT records
// "posthorn domain records" printed) and with npm mailauth (same records).
func verifySubmitted(t *testing.T, msg, records string) {
	t.Helper()
	var txt strings.Builder
	for _, l := range strings.Split(records, "\n") {
		if strings.Contains(l, " IN TXT ") {
			txt.WriteString(l + "\n")
		}
	}
	zone, err := dnstest.ParseZone(strings.NewReader(txt.String()), ".")
	if err != nil {
		t.Fatalf("the printed records do not parse: %v\n%s", err, txt.String())
	}
	var algs []string
	for _, f := range headerFields(msg) {
		if v, ok := strings.CutPrefix(f, "DKIM-Signature:"); ok {
			a := regexp.MustCompile(`\ba=([\w-]+)`).FindStringSubmatch(unfold(v))
			if a == nil {
				t.Fatalf("DKIM-Signature without a=: %s", v)
			}
			algs = append(algs, a[1])
		}
	}
	if strings.Join(algs, " ") != "ed25519-sha256 rsa-sha256" && strings.Join(algs, " ") != "rsa-sha256 ed25519-sha256" {
		t.Fatalf("signatures %v, want ed25519-sha256 and rsa-sha256:\n%s", algs, msg)
	}
	tampered := strings.Replace(msg, "Signed by posthorn.", "Signed by someone else.", 1)

	t.Run("dkimverify", func(t *testing.T) {
		ns := dnstest.StartNetns(t, zone)
		verify := func(m string, idx int) (string, bool) {
			cmd := ns.Command(dkimverifyCmd, "--index", strconv.Itoa(idx))
			cmd.Stdin = strings.NewReader(m)
			out, err := cmd.CombinedOutput()
			return string(out), err == nil && strings.TrimSpace(string(out)) == "signature ok"
		}
		for i, alg := range algs {
			if out, ok := verify(msg, i); !ok {
				t.Errorf("dkimverify rejects the %s signature: %s", alg, out)
			}
			if out, ok := verify(tampered, i); ok {
				t.Errorf("dkimverify accepts the %s signature on a tampered body: %s", alg, out)
			}
		}
	})
	t.Run("mailauth", func(t *testing.T) {
		if _, err := exec.LookPath("node"); err != nil {
			t.Skip("node missing")
		}
		dir, _ := filepath.Abs(filepath.Join("node", "node_modules", "mailauth"))
		if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
			t.Skip("mailauth missing: run `npm ci` in test/e2e/node")
		}
		resolver := dnstest.WriteNodeResolver(t, zone)
		verify := func(m string) map[string]string {
			cmd := exec.Command("node", "-e", mailauthVerifyJS, resolver, dir)
			cmd.Stdin = strings.NewReader(m)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("mailauth: %v\n%s", err, stderr.String())
			}
			var sigs []struct{ D, A, Result string }
			if err := json.Unmarshal(out, &sigs); err != nil {
				t.Fatalf("mailauth output %q: %v", out, err)
			}
			res := map[string]string{}
			for _, s := range sigs {
				if s.D == "example.com" {
					res[s.A] = s.Result
				}
			}
			return res
		}
		got := verify(msg)
		for _, alg := range []string{"ed25519-sha256", "rsa-sha256"} {
			if got[alg] != "pass" {
				t.Errorf("mailauth: %s signature %q, want pass (all: %v)", alg, got[alg], got)
			}
		}
		for alg, r := range verify(tampered) {
			if r == "pass" {
				t.Errorf("mailauth passes the %s signature on a tampered body", alg)
			}
		}
	})
}

// mailauthVerifyJS verifies the message on stdin (argv: RESOLVER MAILAUTH)
// and prints one {d, a, result} per signature.
const mailauthVerifyJS = `
const [resolverPath, mailauthDir] = process.argv.slice(1);
const { resolve } = require(resolverPath);
const { dkimVerify } = require(mailauthDir);
const msg = require('fs').readFileSync(0);
dkimVerify(msg, { resolver: resolve }).then(res => {
    console.log(JSON.stringify(res.results.map(r => ({ d: r.signingDomain, a: r.algo, result: r.status.result }))));
}).catch(err => { console.error(err); process.exit(1); });
`

// checkReportRecords reads the DMARC report records the stopped server
// stored: one per inbound message whose From domain has a policy.
func checkReportRecords(t *testing.T, storeDir string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, storeDir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.DMARCRecords(ctx, store.DMARCQuery{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		ip, from, policy string
		disp             dmarc.Disposition
		dkim, spf        bool
	}
	var got []row
	for _, r := range recs {
		got = append(got, row{r.SourceIP.String(), r.HeaderFrom.ASCII, r.Published.Domain.ASCII, r.Disposition, r.DKIMAligned, r.SPFAligned})
	}
	want := []row{
		{senderIP, "sender.example", "sender.example", dmarc.DispositionNone, true, true},
		{senderIP, "other.example", "other.example", dmarc.DispositionQuarantine, false, false},
		{strangerIP, "sender.example", "sender.example", dmarc.DispositionReject, false, false},
	}
	if len(got) != len(want) {
		t.Fatalf("report records %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	r := recs[0]
	if len(r.DKIM) != 1 || r.DKIM[0].Domain != addr.MustParseDomain("sender.example") || r.DKIM[0].Selector != "sel" ||
		r.DKIM[0].Result != dkim.StatusPass || r.SPF.Result != "pass" || r.EnvelopeFrom.ASCII != "sender.example" ||
		r.Published.P != dmarc.DispositionReject || len(r.Published.AggregateURI) != 1 {
		t.Errorf("record of the signed message: %+v", r)
	}
	sender, err := st.DMARCRecords(ctx, store.DMARCQuery{Domain: addr.MustParseDomain("sender.example")})
	if err != nil || len(sender) != 2 {
		t.Errorf("records of sender.example: %d, %v", len(sender), err)
	}
}
