package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// End-to-end tests of posthorn's IMAP server with real clients: Python
// imaplib, mbsync (isync), offlineimap3, imapflow and neomutt. Each runs
// against "posthorn serve" from a fresh "posthorn init" with IMAP (143,
// STARTTLS) and IMAPS (993) on free loopback ports and a self-signed
// certificate for localhost.

// appendTestMessages APPENDs testdata/imap's messages to INBOX as bob;
// the first is \Seen.
func appendTestMessages(t *testing.T, m *mailServer) []imapMessage {
	t.Helper()
	c, _ := dialIMAP(t, m.imaps, m.imapTLS())
	c.login("bob@example.com", imapPW)
	msgs := imapTestMessages(t)
	for i, msg := range msgs {
		flags := ""
		if i == 0 {
			flags = `\Seen`
		}
		c.appendMsg("INBOX", flags, msg.date, msg.data)
	}
	c.ok("LOGOUT")
	return msgs
}

// imapTLS is the TLS configuration for the IMAP certificate (localhost).
func (m *mailServer) imapTLS() *tls.Config {
	cfg := m.tlsConfig()
	cfg.ServerName = "localhost"
	return cfg
}

// TestIMAPPythonImaplib: Python's imaplib over STARTTLS and IMAPS, every
// common command, and a raw IDLE woken by an SMTP delivery within 1 s.
func TestIMAPPythonImaplib(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("Debian's python3 not installed")
	}
	t.Parallel()
	m := newIMAPServer(t)
	msgs := appendTestMessages(t, m)
	script, _ := filepath.Abs("testdata/imap/imaplib_session.py")
	out, code := run(t, "", py, script, "localhost", port(m.imap), port(m.imaps), m.cert, "bob@example.com", imapPW, port(m.smtp))
	if code != 0 {
		t.Fatalf("imaplib_session.py: exit %d\n%s\n%s", code, out, m.logs())
	}
	var r struct {
		CapsBeforeTLS  []string `json:"caps_before_tls"`
		CapsAfterTLS   []string `json:"caps_after_tls"`
		StarttlsSelect []any    `json:"starttls_select"`
		Exists         int
		FetchMeta      string   `json:"fetch_meta"`
		FetchBody      string   `json:"fetch_body"`
		FlagsAfterBody []string `json:"flags_after_body"`
		StoredFlags    string   `json:"stored_flags"`
		SearchBody     string   `json:"search_body"`
		SearchTextUID  string   `json:"search_text_uid"`
		SearchFlagged  string   `json:"search_flagged"`
		SearchUnseen   string   `json:"search_unseen"`
		SearchCharset  string   `json:"search_charset"`
		Copy           []string
		Move           []any
		MoveUntagged   []string `json:"move_untagged"`
		Expunge        []any
		StatusProjects string   `json:"status_projects"`
		StatusArchive  string   `json:"status_archive"`
		ListProjects   []string `json:"list_projects"`
		IdleCont       string   `json:"idle_continuation"`
		IdleEvent      string   `json:"idle_event"`
		IdleAfterAck   int      `json:"idle_after_ack_ms"`
		IdleDone       string   `json:"idle_done"`
		IdleFetched    string   `json:"idle_fetched"`
		Logout         string
	}
	if err := json.Unmarshal([]byte(lastLine(out)), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !contains(r.CapsBeforeTLS, "STARTTLS") || contains(r.CapsAfterTLS, "STARTTLS") {
		t.Errorf("STARTTLS offered before TLS %v, after %v", r.CapsBeforeTLS, r.CapsAfterTLS)
	}
	if fmt.Sprint(r.StarttlsSelect) != "[OK 8]" || r.Exists != 8 {
		t.Errorf("SELECT over STARTTLS %v, over IMAPS %d; want 8", r.StarttlsSelect, r.Exists)
	}
	if r.FetchBody != string(msgs[0].data) {
		t.Errorf("BODY[] differs from the APPENDed message:\n%q", r.FetchBody)
	}
	for _, w := range []string{`BODYSTRUCTURE ("text" "plain" ("charset" "utf-8" "format" "flowed") NIL NIL "8BIT" 107 7`,
		`ENVELOPE ("Sun, 01 Mar 2026 09:15:00 +0100"`, `"<plain.1@example.org>"`} {
		if !strings.Contains(r.FetchMeta, w) {
			t.Errorf("FETCH lacks %s: %s", w, r.FetchMeta)
		}
	}
	if !strings.Contains(r.StoredFlags, `\Flagged`) || !strings.Contains(r.StoredFlags, `$Important`) {
		t.Errorf("STORE: %s", r.StoredFlags)
	}
	for what, got := range map[string][2]string{
		"SEARCH BODY zeppelin (FTS)":  {r.SearchBody, "1 4"},
		"UID SEARCH TEXT pomegranate": {r.SearchTextUID, "2"},
		"SEARCH FLAGGED":              {r.SearchFlagged, "2"},
		"SEARCH UNSEEN":               {r.SearchUnseen, "2 3 4 5 6 7 8"},
		"SEARCH CHARSET UTF-8":        {r.SearchCharset, "1"},
	} {
		if got[0] != got[1] {
			t.Errorf("%s = %q, want %q", what, got[0], got[1])
		}
	}
	if len(r.Copy) != 2 || r.Copy[0] != "OK" || !strings.Contains(r.Copy[1], "COPYUID") {
		t.Errorf("COPY: %v", r.Copy)
	}
	if fmt.Sprint(r.Move[0]) != "OK" || fmt.Sprint(r.MoveUntagged) != "[3]" {
		t.Errorf("UID MOVE: %v, EXPUNGE %v", r.Move, r.MoveUntagged)
	}
	if fmt.Sprint(r.Expunge) != "[OK [1]]" {
		t.Errorf("EXPUNGE: %v", r.Expunge)
	}
	if r.StatusProjects != `"Projects/2026" (MESSAGES 1 UNSEEN 0)` && r.StatusProjects != `Projects/2026 (MESSAGES 1 UNSEEN 0)` {
		t.Errorf("STATUS Projects/2026: %s", r.StatusProjects)
	}
	if !strings.Contains(r.StatusArchive, "MESSAGES 1") {
		t.Errorf("STATUS Archive: %s", r.StatusArchive)
	}
	if len(r.ListProjects) != 2 {
		t.Errorf("LIST Projects*: %q", r.ListProjects)
	}
	if !strings.HasPrefix(r.IdleCont, "+") || r.IdleEvent != "* 7 EXISTS" || !strings.HasPrefix(r.IdleDone, "i1 OK") {
		t.Errorf("IDLE: %q, then %q, DONE %q", r.IdleCont, r.IdleEvent, r.IdleDone)
	}
	if r.IdleAfterAck > 1000 {
		t.Errorf("IDLE reported the delivery %d ms after the SMTP 250; want within 1 s", r.IdleAfterAck)
	}
	if !strings.Contains(r.IdleFetched, "during idle") || r.Logout != "BYE" && r.Logout != "OK" {
		t.Errorf("after IDLE: %s; LOGOUT %s", r.IdleFetched, r.Logout)
	}
	t.Logf("IDLE: EXISTS %d ms after the SMTP 250", r.IdleAfterAck)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// maildirFiles lists the messages of a Maildir folder: file name → flags
// (the letters after ":2,").
func maildirFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, sub := range []string{"cur", "new"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, e := range ents {
			_, flags, _ := strings.Cut(e.Name(), ":2,")
			out[filepath.Join(sub, e.Name())] = flags
		}
	}
	return out
}

// maildirBySubject maps the Subject of each message of a Maildir folder
// to its path (relative to dir) and flags.
func maildirBySubject(t *testing.T, dir string) map[string][2]string {
	t.Helper()
	out := map[string][2]string{}
	for name, flags := range maildirFiles(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		subj := storedMessage{Body: crlf(string(b))}.Header("Subject")
		out[subj] = [2]string{name, flags}
	}
	return out
}

// serverState returns Subject → sorted FLAGS of every message of a
// mailbox, read over IMAP.
func serverState(t *testing.T, m *mailServer, mailbox string) map[string]string {
	t.Helper()
	c, _ := dialIMAP(t, m.imaps, m.imapTLS())
	c.login("bob@example.com", imapPW)
	c.ok("EXAMINE " + quote(mailbox))
	out := map[string]string{}
	for _, l := range c.ok("FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])") {
		if !strings.Contains(l, " FETCH ") {
			continue
		}
		_, items := fetchItems(t, l)
		var flags []string
		for _, f := range items["FLAGS"].list {
			flags = append(flags, f.s)
		}
		sort.Strings(flags)
		subj := storedMessage{Body: items["BODY[HEADER.FIELDS (SUBJECT)]"].s}.Header("Subject")
		out[subj] = strings.Join(flags, " ")
	}
	c.ok("LOGOUT")
	return out
}

// TestIMAPMbsync: two-way sync of a Maildir with mbsync (isync): the
// initial pull, a local flag change and a server-side one, a local delete
// with Expunge Both, a new local message (APPEND) and a new local folder
// (CREATE); the state is checked on both sides, and a third run changes
// nothing.
func TestIMAPMbsync(t *testing.T) {
	mbsync := need(t, "mbsync")
	t.Parallel()
	m := newIMAPServer(t)
	c, _ := dialIMAP(t, m.imaps, m.imapTLS())
	c.login("bob@example.com", imapPW)
	for i, s := range []string{"mbsync one", "mbsync two", "mbsync three"} {
		flags := ""
		if i == 0 {
			flags = `\Seen`
		}
		c.appendMsg("INBOX", flags, "", []byte(crlf(testMail(s, "body of "+s))))
	}
	dir := t.TempDir()
	local := filepath.Join(dir, "mail")
	os.MkdirAll(local, 0o700)
	rc := filepath.Join(dir, "mbsyncrc")
	writeFile(t, rc, fmt.Sprintf(`IMAPAccount posthorn
Host localhost
Port %s
User bob@example.com
Pass %s
SSLType IMAPS
CertificateFile %s

IMAPStore remote
Account posthorn

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
Sync All
`, port(m.imaps), imapPW, m.cert, local, local))
	sync := func(what string) string {
		t.Helper()
		out, code := run(t, "", mbsync, "-c", rc, "-a")
		if code != 0 {
			t.Fatalf("mbsync (%s): exit %d\n%s\nserver log:\n%s", what, code, out, m.logs())
		}
		return out
	}
	sync("initial pull")
	inbox := filepath.Join(local, "INBOX")
	got := maildirBySubject(t, inbox)
	if len(got) != 3 || got["mbsync one"][1] != "S" || got["mbsync two"][1] != "" {
		t.Fatalf("after the first sync, local INBOX: %v", got)
	}
	for _, mb := range []string{"Archive", "Drafts", "Junk", "Sent", "Trash"} {
		if _, err := os.Stat(filepath.Join(local, mb, "cur")); err != nil {
			t.Errorf("special-use mailbox %s not created locally: %v", mb, err)
		}
	}

	// Local changes: flag "two", delete "three", a new message, a new folder.
	two := filepath.Join(inbox, got["mbsync two"][0])
	flagged := strings.Replace(two, filepath.Join(inbox, "new"), filepath.Join(inbox, "cur"), 1)
	if !strings.Contains(flagged, ":2,") {
		flagged += ":2,"
	}
	if err := os.Rename(two, flagged+"F"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(inbox, got["mbsync three"][0])); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(inbox, "new", "1700000000.local1.host"), testMail("mbsync local new", "written into the Maildir"))
	proj := filepath.Join(local, "Projects")
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(proj, sub), 0o700)
	}
	writeFile(t, filepath.Join(proj, "cur", "1700000001.local2.host:2,S"), testMail("mbsync project", "in a new folder"))
	// Server-side change: "one" answered.
	c.ok("SELECT INBOX")
	c.ok(`UID STORE 1 +FLAGS (\Answered)`)
	c.ok("LOGOUT")

	sync("two-way")
	srv := serverState(t, m, "INBOX")
	want := map[string]string{"mbsync one": `\Answered \Seen`, "mbsync two": `\Flagged`, "mbsync local new": ``}
	if fmt.Sprint(srv) != fmt.Sprint(want) {
		t.Errorf("server INBOX after the two-way sync:\n got %v\nwant %v", srv, want)
	}
	if p := serverState(t, m, "Projects"); fmt.Sprint(p) != fmt.Sprint(map[string]string{"mbsync project": `\Seen`}) {
		t.Errorf("server Projects: %v", p)
	}
	got = maildirBySubject(t, inbox)
	if len(got) != 3 || got["mbsync one"][1] != "RS" || got["mbsync two"][1] != "F" {
		t.Errorf("local INBOX after the two-way sync: %v", got)
	}

	out := sync("idempotent")
	if fmt.Sprint(serverState(t, m, "INBOX")) != fmt.Sprint(want) || len(maildirFiles(t, inbox)) != 3 {
		t.Errorf("a third sync changed something:\n%s", out)
	}
}

// TestIMAPOfflineimap: one offlineimap3 sync pass (-o -u basic) into an
// empty Maildir.
func TestIMAPOfflineimap(t *testing.T) {
	oi := need(t, "offlineimap")
	t.Parallel()
	m := newIMAPServer(t)
	msgs := appendTestMessages(t, m)
	dir := t.TempDir()
	rc := filepath.Join(dir, "offlineimaprc")
	writeFile(t, rc, fmt.Sprintf(`[general]
accounts = test
metadata = %s/meta

[Account test]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = %s/mail

[Repository remote]
type = IMAP
remotehost = localhost
remoteport = %s
remoteuser = bob@example.com
remotepass = %s
ssl = yes
sslcacertfile = %s
folderfilter = lambda f: f in ['INBOX', 'Archive']
`, dir, dir, port(m.imaps), imapPW, m.cert))
	out, code := run(t, "", oi, "-c", rc, "-o", "-u", "basic")
	if code != 0 || strings.Contains(out, "ERROR") {
		t.Fatalf("offlineimap: exit %d\n%s\nserver log:\n%s", code, out, m.logs())
	}
	got := maildirBySubject(t, filepath.Join(dir, "mail", "INBOX"))
	if len(got) != len(msgs) {
		t.Fatalf("local INBOX has %d messages, want %d: %v", len(got), len(msgs), got)
	}
	seen := 0
	for _, v := range got {
		if strings.Contains(v[1], "S") {
			seen++
		}
	}
	if seen != 1 {
		t.Errorf("%d messages \\Seen locally, want 1: %v", seen, got)
	}
	// The messages arrive whole. offlineimap3 writes them back through
	// Python's email package, which rewrites line endings, folding and
	// MIME boundaries of some; so compare the Message-ID and the last
	// line of each body instead of the bytes.
	for _, msg := range msgs {
		subj := storedMessage{Body: string(msg.data)}.Header("Subject")
		f, ok := got[subj]
		if !ok {
			t.Errorf("%s (%q) missing locally", msg.name, subj)
			continue
		}
		b, _ := os.ReadFile(filepath.Join(dir, "mail", "INBOX", f[0]))
		local := storedMessage{Body: crlf(string(b))}
		lines := strings.Split(strings.TrimSpace(string(msg.data)), "\r\n")
		orig := storedMessage{Body: string(msg.data)}
		if local.Header("Message-ID") != orig.Header("Message-ID") ||
			!strings.Contains(crlf(string(b)), lines[len(lines)-1]) {
			t.Errorf("%s differs locally:\n%s", msg.name, b)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "mail", "Archive", "cur")); err != nil {
		t.Errorf("Archive not synced: %v", err)
	}
}

// TestIMAPImapflow: imapflow 2.1.2 resynchronises with QRESYNC after
// another session changed flags, expunged and moved (VANISHED (EARLIER)
// and FETCH FLAGS, nothing else), and its IDLE reports a new delivery
// within a second.
func TestIMAPImapflow(t *testing.T) {
	node := need(t, "node")
	if _, err := os.Stat("node/node_modules/imapflow"); err != nil {
		t.Skip("imapflow not installed (cd test/e2e/node && npm ci)")
	}
	t.Parallel()
	m := newIMAPServer(t)
	appendTestMessages(t, m)
	cfg, _ := json.Marshal(map[string]any{"host": "localhost", "port": atoi(t, port(m.imaps)), "user": "bob@example.com",
		"pass": imapPW, "cert": m.cert, "smtpPort": atoi(t, port(m.smtp))})
	cmd := exec.Command(node, "imap_resync.js", string(cfg))
	cmd.Dir = "node"
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("imap_resync.js: %v\n%s\nserver log:\n%s", err, b, m.logs())
	}
	var r struct {
		Enabled []string
		Before  struct{ Exists int }
		Move    struct{ Destination string }
		After   struct {
			Exists  int
			Qresync bool
		}
		ResyncEvents []struct {
			Type              string
			UID               int
			Vanished, Earlier bool
			Flags             []string
		}
		Idle *struct{ Count, PrevCount, AfterAckMs int }
	}
	if err := json.Unmarshal([]byte(lastLine(string(b))), &r); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if !contains(r.Enabled, "QRESYNC") || !contains(r.Enabled, "CONDSTORE") {
		t.Errorf("enabled: %v", r.Enabled)
	}
	if r.Before.Exists != 8 || r.After.Exists != 6 || !r.After.Qresync || r.Move.Destination != "Archive" {
		t.Errorf("exists %d → %d, qresync %v, moved to %q", r.Before.Exists, r.After.Exists, r.After.Qresync, r.Move.Destination)
	}
	var got []string
	for _, e := range r.ResyncEvents {
		switch e.Type {
		case "expunge":
			got = append(got, fmt.Sprintf("vanished %d earlier=%v", e.UID, e.Earlier))
		case "flags":
			got = append(got, fmt.Sprintf("flags %d %v", e.UID, e.Flags))
		default:
			got = append(got, e.Type)
		}
	}
	sort.Strings(got)
	want := []string{`flags 1 []`, `flags 2 [\Flagged]`, "vanished 4 earlier=true", "vanished 5 earlier=true"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("QRESYNC events:\n got %q\nwant %q", got, want)
	}
	if r.Idle == nil || r.Idle.Count != 7 || r.Idle.AfterAckMs > 1000 {
		t.Errorf("IDLE exists event: %+v (want count 7 within 1000 ms of the SMTP 250)", r.Idle)
	} else {
		t.Logf("IDLE: exists %d ms after the SMTP 250", r.Idle.AfterAckMs)
	}
}

// TestIMAPNeomutt: neomutt, driven through tmux, opens INBOX over IMAPS
// and its index shows the subjects of the delivered messages.
func TestIMAPNeomutt(t *testing.T) {
	tmux := need(t, "tmux")
	nm := need(t, "neomutt")
	t.Parallel()
	m := newIMAPServer(t)
	for _, s := range []string{"neomutt first subject", "neomutt second subject"} {
		m.smtpDeliver("alice@example.org", "bob@example.com", testMail(s, "hello neomutt"))
	}
	dir := t.TempDir()
	certs := filepath.Join(dir, "certificates")
	b, err := os.ReadFile(m.cert)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, certs, string(b))
	rc := filepath.Join(dir, "muttrc")
	url := fmt.Sprintf("imaps://bob%%40example.com@localhost:%s/", port(m.imaps))
	writeFile(t, rc, fmt.Sprintf(`set folder = "%s"
set spoolfile = "+INBOX"
set imap_user = "bob@example.com"
set imap_pass = "%s"
set certificate_file = "%s"
set ssl_verify_host = no
set ssl_force_tls = yes
set header_cache = ""
set message_cachedir = ""
set mail_check = 1
set timeout = 1
set sort = date
set index_format = "%%4C %%-20.20F %%s"
set imap_keepalive = 60
`, url, imapPW, certs))
	// Its own tmux server (socket), so nothing else is touched.
	sock := fmt.Sprintf("posthorn-e2e-%d", time.Now().UnixNano())
	if out, code := run(t, "", tmux, "-L", sock, "new-session", "-d", "-s", "nm", "-x", "160", "-y", "40",
		nm+" -n -F "+rc+" -f "+url+"INBOX"); code != 0 {
		t.Fatalf("tmux new-session: %d %s", code, out)
	}
	t.Cleanup(func() { exec.Command(tmux, "-L", sock, "kill-server").Run() })
	var screen string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		screen, _ = run(t, "", tmux, "-L", sock, "capture-pane", "-p", "-t", "nm")
		if strings.Contains(screen, "neomutt first subject") && strings.Contains(screen, "neomutt second subject") {
			break
		}
		// An unexpected certificate prompt would wait forever: answer it.
		if regexp.MustCompile(`\(r\)eject, accept \(o\)nce`).MatchString(screen) {
			run(t, "", tmux, "-L", sock, "send-keys", "-t", "nm", "o")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(screen, "neomutt first subject") || !strings.Contains(screen, "neomutt second subject") {
		t.Fatalf("neomutt's index does not show both subjects within 30 s:\n%s\nserver log:\n%s", screen, m.logs())
	}
	run(t, "", tmux, "-L", sock, "send-keys", "-t", "nm", "q")
}
