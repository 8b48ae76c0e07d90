package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestMsmtp: msmtp submits over STARTTLS, trusting only posthorn's
// certificate, with AUTH PLAIN and SCRAM-SHA-256 (GNU SASL); --serverinfo
// and its debug transcript show the extensions.
func TestMsmtp(t *testing.T) {
	msmtp := need(t, "msmtp")
	t.Parallel()
	m := newMailServer(t, mailOptions{})
	m.addUser("bob@example.com", bobPW)
	m.addUser("alice@example.com", alicePW)
	m.start()
	tlsArgs := []string{"--host=127.0.0.1", "--port=" + port(m.submission), "--tls=on", "--tls-starttls=on",
		"--tls-trust-file=" + m.cert, "--tls-host-override=" + mailHost}

	out, code := run(t, "", msmtp, append([]string{"-d", "--serverinfo"}, tlsArgs...)...)
	if code != 0 {
		t.Fatalf("msmtp --serverinfo: exit %d\n%s", code, out)
	}
	// The EHLO reply after STARTTLS (the second one in the transcript).
	_, afterTLS, _ := strings.Cut(out, "--> STARTTLS")
	for _, c := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE 52428800", "CHUNKING", "BINARYMIME", "DSN",
		"ENHANCEDSTATUSCODES", "REQUIRETLS", "AUTH SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN LOGIN"} {
		if !regexp.MustCompile(`(?m)^<-- 250[- ]` + regexp.QuoteMeta(c) + `\r?$`).MatchString(afterTLS) {
			t.Errorf("EHLO after STARTTLS lacks %q:\n%s", c, afterTLS)
		}
	}
	if strings.Contains(afterTLS, "250-STARTTLS") {
		t.Errorf("STARTTLS offered again after TLS")
	}
	// msmtp's own summary names what it knows of.
	for _, c := range []string{"PIPELINING", "DSN", "STARTTLS", "SIZE 52428800", "TLS1.3"} {
		if !strings.Contains(out, c) {
			t.Errorf("--serverinfo lacks %q", c)
		}
	}

	send := func(auth, user, pw, subject, body string) string {
		t.Helper()
		// With Date and Message-ID present msmtp adds neither, so the
		// stored body is exactly what is sent here minus User-Agent.
		msg := crlf("From: " + user + "\nTo: alice@example.com\nSubject: " + subject + "\nDate: Mon, 02 Feb 2026 10:00:00 +0100\n" +
			"Message-ID: <" + auth + "@msmtp.test>\nUser-Agent: msmtp-test/1\n\n" + body)
		args := append([]string{"--auth=" + auth, "--user=" + user, "--passwordeval=echo '" + pw + "'",
			"--from=" + user}, tlsArgs...)
		out, code := run(t, msg, msmtp, append(args, "alice@example.com")...)
		if code != 0 {
			t.Errorf("msmtp --auth=%s: exit %d\n%s", auth, code, out)
		}
		return msg
	}
	plain := send("plain", "bob@example.com", bobPW, "msmtp plain", "sent by msmtp with PLAIN\n")
	send("scram-sha-256", "bob@example.com", bobPW, "msmtp scram", "sent by msmtp with SCRAM-SHA-256\n")
	// msmtp 1.8.23 (GNU SASL) has no SCRAM-SHA-256-PLUS: it refuses the
	// mechanism name, so -PLUS is covered by the in-process tests only.
	if out, _ := run(t, "", msmtp, "--version"); strings.Contains(strings.ToLower(out), "scram-sha-256-plus") {
		send("scram-sha-256-plus", "bob@example.com", bobPW, "msmtp scram plus", "with channel binding\n")
	} else {
		t.Log("this msmtp has no SCRAM-SHA-256-PLUS; skipped")
	}
	out, code = run(t, "x", msmtp, append([]string{"--auth=scram-sha-256", "--user=bob@example.com", "--passwordeval=echo wrong",
		"--from=bob@example.com"}, append(tlsArgs, "alice@example.com")...)...)
	if code == 0 || !strings.Contains(out, "authentication failed") {
		t.Errorf("wrong SCRAM password: exit %d\n%s", code, out)
	}

	m.stop()
	alice := m.messages("alice@example.com")
	p := oneBySubject(t, alice, "msmtp plain")
	if want := strings.Replace(plain, "User-Agent: msmtp-test/1\r\n", "", 1); p.Body != want {
		t.Errorf("msmtp body:\n got %q\nwant %q", p.Body, want)
	}
	checkSubmitted(t, p, "")
	s := oneBySubject(t, alice, "msmtp scram")
	checkSubmitted(t, s, "")
	if !strings.HasSuffix(s.Body, "\r\n\r\nsent by msmtp with SCRAM-SHA-256\r\n") {
		t.Errorf("scram body %q", s.Body)
	}
}

// port returns the port of host:port.
func port(hostport string) string {
	return hostport[strings.LastIndexByte(hostport, ':')+1:]
}

// TestPythonSMTPUTF8: Python's smtplib sends to a UTF-8 local part at an
// IDN domain with SMTPUTF8, with DSN parameters, and BDAT in two chunks.
func TestPythonSMTPUTF8(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("Debian's python3 not installed")
	}
	t.Parallel()
	m := newMailServer(t, mailOptions{})
	m.admin("domain", "add", "bücher.example")
	m.addUser("jürgen@bücher.example", "jürgen-Bücher-pw-4821")
	m.addUser("bob@example.com", bobPW)
	m.start()
	script, _ := filepath.Abs("testdata/smtputf8.py")
	out, code := run(t, "", py, script, "127.0.0.1", port(m.smtp))
	if code != 0 {
		t.Fatalf("smtputf8.py: exit %d\n%s", code, out)
	}
	var r struct {
		EHLOSMTPUTF8, EHLODSN, EHLOChunking bool
		MailNoUTF8                          []any `json:"mail_no_utf8"`
		UTF8Refused                         map[string]any
		DSNRefused                          map[string]any
		BadNotify                           []any `json:"bad_notify"`
		BDAT                                []string
		BDATBody                            string `json:"bdat_body"`
		UTF8Body                            string `json:"utf8_body"`
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	get := func(k string, v any) {
		if err := json.Unmarshal(raw[k], v); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
	}
	get("ehlo_smtputf8", &r.EHLOSMTPUTF8)
	get("ehlo_dsn", &r.EHLODSN)
	get("ehlo_chunking", &r.EHLOChunking)
	get("mail_no_utf8", &r.MailNoUTF8)
	get("utf8_refused", &r.UTF8Refused)
	get("dsn_refused", &r.DSNRefused)
	get("bad_notify", &r.BadNotify)
	get("bdat", &r.BDAT)
	get("bdat_body", &r.BDATBody)
	get("utf8_body", &r.UTF8Body)
	if !r.EHLOSMTPUTF8 || !r.EHLODSN || !r.EHLOChunking {
		t.Errorf("EHLO: SMTPUTF8 %v DSN %v CHUNKING %v", r.EHLOSMTPUTF8, r.EHLODSN, r.EHLOChunking)
	}
	if len(r.MailNoUTF8) != 2 || r.MailNoUTF8[0] != 553.0 || !strings.Contains(r.MailNoUTF8[1].(string), "5.6.7") {
		t.Errorf("non-ASCII MAIL without SMTPUTF8: %v", r.MailNoUTF8)
	}
	if len(r.UTF8Refused) != 0 || len(r.DSNRefused) != 0 {
		t.Errorf("refused: %v %v", r.UTF8Refused, r.DSNRefused)
	}
	if len(r.BadNotify) != 2 || r.BadNotify[0] != 501.0 {
		t.Errorf("NOTIFY=NEVER,SUCCESS: %v", r.BadNotify)
	}
	wantBDAT := []string{"250", "250", "250 2.0.0 Continue", "250 2.0.0 Ok", "221"}
	for i, w := range wantBDAT {
		if i >= len(r.BDAT) || !strings.HasPrefix(r.BDAT[i], w) {
			t.Errorf("BDAT replies %q, want %q", r.BDAT, wantBDAT)
			break
		}
	}
	m.stop()

	j := m.messages("jürgen@bücher.example")
	msg := oneBySubject(t, j, "smtplib Grüße SMTPUTF8")
	if msg.Body != r.UTF8Body {
		t.Errorf("UTF-8 body:\n got %q\nwant %q", msg.Body, r.UTF8Body)
	}
	if len(j) != 1 {
		t.Errorf("jürgen has %d messages, want 1 (two spellings of one address, stored once)", len(j))
	}
	// The Received header names the recipient; it is not a single one
	// here (two RCPTs), so only the protocol is checked: RFC 6531 §3.7.3.
	if !regexp.MustCompile(`^Received: from py\.client\.example \(\[127\.0\.0\.1\]\)\r\n\tby mail\.example\.com \(posthorn\) with UTF8SMTP id`).MatchString(msg.Prefix) &&
		!regexp.MustCompile(`^Received: from py\.client\.example \(\[127\.0\.0\.1\]\)\r\n\tby mail\.example\.com \(posthorn\) with ESMTP id`).MatchString(msg.Prefix) {
		t.Errorf("Received: %q", msg.Prefix)
	}
	bob := m.messages("bob@example.com")
	oneBySubject(t, bob, "smtplib DSN params")
	b := oneBySubject(t, bob, "smtplib BDAT chunks")
	if b.Body != r.BDATBody {
		t.Errorf("BDAT body:\n got %q\nwant %q", b.Body, r.BDATBody)
	}
}

// TestNodemailer: nodemailer submits with requireTLS (STARTTLS) and over
// implicit TLS, verifying posthorn's certificate.
func TestNodemailer(t *testing.T) {
	need(t, "node")
	if _, err := os.Stat("node/node_modules/nodemailer"); err != nil {
		t.Skip("nodemailer not installed: run npm ci in test/e2e/node")
	}
	t.Parallel()
	m := newMailServer(t, mailOptions{})
	m.addUser("bob@example.com", bobPW)
	m.addUser("alice@example.com", alicePW)
	m.start()
	rawMsg := crlf("From: Bob <bob@example.com>\nTo: alice@example.com\nSubject: nodemailer raw\nMessage-ID: <raw-1@example.com>\nDate: Tue, 03 Feb 2026 04:05:06 +0000\nX-Mailer: nodemailer-raw\n\nexact bytes\n.dot\n")
	cfg, _ := json.Marshal(map[string]any{
		"cert": m.cert, "servername": mailHost, "user": "bob@example.com", "pass": bobPW, "to": "alice@example.com",
		"submission": atoi(t, port(m.submission)), "submissions": atoi(t, port(m.submissions)), "raw": rawMsg,
	})
	script, _ := filepath.Abs("node/submit.js") // node resolves nodemailer from node/node_modules
	out, code := run(t, "", "node", script, string(cfg))
	if code != 0 {
		t.Fatalf("node submit.js: exit %d\n%s", code, out)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, k := range []string{"starttls", "raw", "implicit"} {
		v, _ := r[k].(map[string]any)
		if resp, _ := v["response"].(string); !strings.HasPrefix(resp, "250 2.0.0 Ok: stored as") {
			t.Errorf("%s: %v", k, r[k])
		}
	}
	if bad, _ := r["bad"].(map[string]any); bad == nil || bad["responseCode"] != 535.0 {
		t.Errorf("wrong password: %v", r["bad"])
	}
	m.stop()
	alice := m.messages("alice@example.com")
	s := oneBySubject(t, alice, "nodemailer requireTLS")
	checkSubmitted(t, s, "node.client.example")
	if !strings.Contains(s.Body, "Hello from nodemailer\r\nsecond line\r\n") || s.Header("From") != "Node Sender <bob@example.com>" {
		t.Errorf("nodemailer message:\n%s", s.Full())
	}
	raw := oneBySubject(t, alice, "nodemailer raw")
	if want := strings.Replace(rawMsg, "X-Mailer: nodemailer-raw\r\n", "", 1); raw.Body != want {
		t.Errorf("raw body:\n got %q\nwant %q", raw.Body, want)
	}
	checkSubmitted(t, raw, "")
	checkSubmitted(t, oneBySubject(t, alice, "nodemailer implicit TLS"), "")
}

func atoi(t *testing.T, s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}
