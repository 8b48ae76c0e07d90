package e2e

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

// The README tour, run as root: "posthorn init", useradd, "posthorn
// serve", mail in over SMTP and out over IMAP, on the paths of
// contrib/posthorn.service. These tests need root (CI runs as root on a
// fresh machine) and skip otherwise. Each creates the system user it runs
// the server as and removes it at the end; no test depends on a user
// created by hand.

// Paths of contrib/posthorn.service.
const (
	unitConfigDir = "/etc/posthorn"
	unitDataDir   = "/var/lib/posthorn"
)

// tour is an installation made by the README's commands.
type tour struct {
	t           *testing.T
	etc, data   string // configuration directory, data directory
	config      string
	user        string // the service user
	uid, gid    int
	password    string // of postmaster@example.com, printed by init
	initOut     string
	smtp, imaps string
	http, https string
	submission  string
	submissions string
	imap        string
	srv         *server
	literal     bool // the unit's own paths and user name
}

// readme is README.md's text.
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tourOptions vary newTour.
type tourOptions struct {
	// literal: the unit's paths and the user "posthorn" when this
	// machine has none of them yet (a fresh CI machine).
	literal bool
	// useraddFirst: create the user before init instead of after.
	useraddFirst bool
}

// newTour runs init and useradd as the README says. With o.literal, it
// uses the unit's paths and the user "posthorn" when this machine has
// none of them yet; otherwise the same commands run under a temporary
// root prefix (--data-dir then names the prefixed data directory) with a
// user name of the test's own.
func newTour(t *testing.T, o tourOptions) *tour {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the README tour runs as root (CI runs as root)")
	}
	if _, err := exec.LookPath("useradd"); err != nil {
		t.Fatal("useradd not found (Debian's passwd package)")
	}
	tr := &tour{t: t, etc: unitConfigDir, data: unitDataDir, user: "posthorn", literal: o.literal}
	if o.literal {
		_, err1 := os.Lstat(unitConfigDir)
		_, err2 := os.Lstat(unitDataDir)
		_, err3 := user.Lookup("posthorn")
		tr.literal = errors.Is(err1, fs.ErrNotExist) && errors.Is(err2, fs.ErrNotExist) && err3 != nil
	}
	if !tr.literal {
		prefix := t.TempDir()
		// The service user must reach the data directory below it.
		for _, d := range []string{filepath.Dir(prefix), prefix} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		tr.etc, tr.data = filepath.Join(prefix, unitConfigDir), filepath.Join(prefix, unitDataDir)
		tr.user = fmt.Sprintf("ph-test-%d", os.Getpid()%100000)
		if _, err := user.Lookup(tr.user); err == nil {
			t.Fatalf("user %s exists already", tr.user)
		}
	}
	tr.config = filepath.Join(tr.etc, "posthorn.toml")
	t.Cleanup(func() {
		if tr.literal {
			os.RemoveAll(unitConfigDir)
			os.RemoveAll(unitDataDir)
		}
	})

	if o.useraddFirst {
		tr.useradd()
		tr.init()
	} else {
		tr.init()
		tr.useradd()
	}
	tr.loopback()
	return tr
}

// init runs the README's init and domain records commands.
func (tr *tour) init() {
	t := tr.t
	t.Helper()
	// README: ./posthorn init --dir /etc/posthorn --domain example.com --hostname mail.example.com
	args := []string{"init", "--dir", tr.etc, "--domain", "example.com", "--hostname", "mail.example.com"}
	if !tr.literal {
		args = append(args, "--data-dir", tr.data, "--user", tr.user)
	}
	tr.command("./posthorn init --dir /etc/posthorn --domain example.com --hostname mail.example.com")
	tr.initOut = mustRun(t, "", args...)
	m := regexp.MustCompile(`Password:\s+(\S+)`).FindStringSubmatch(tr.initOut)
	if m == nil {
		t.Fatalf("init printed no password:\n%s", tr.initOut)
	}
	tr.password = m[1]

	// README: ./posthorn domain records example.com --config /etc/posthorn/posthorn.toml
	tr.command("./posthorn domain records example.com --config /etc/posthorn/posthorn.toml")
	if out := mustRun(t, "", "domain", "records", "example.com", "--config", tr.config); !strings.Contains(out, "IN MX") {
		t.Errorf("domain records:\n%s", out)
	}

}

// useradd creates the service user with the README's command.
func (tr *tour) useradd() {
	t := tr.t
	t.Helper()
	// README: useradd … posthorn, exactly as init printed it.
	useradd := fmt.Sprintf("useradd --system --user-group --home-dir %s --shell /usr/sbin/nologin posthorn", unitDataDir)
	tr.command(useradd)
	if tr.initOut != "" && tr.literal && !strings.Contains(tr.initOut, "  "+useradd) {
		t.Errorf("init does not print the README's useradd line %q:\n%s", useradd, tr.initOut)
	}
	fields := strings.Fields(strings.Replace(useradd, unitDataDir, tr.data, 1))
	fields[len(fields)-1] = tr.user
	if out, err := exec.Command(fields[0], fields[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", fields, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", tr.user).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v\n%s", tr.user, err, out)
		}
	})
	u, err := user.Lookup(tr.user)
	if err != nil {
		t.Fatal(err)
	}
	tr.uid, _ = strconv.Atoi(u.Uid)
	tr.gid, _ = strconv.Atoi(u.Gid)
}

// command checks that README.md gives cmd as it is run here.
func (tr *tour) command(cmd string) {
	tr.t.Helper()
	if !strings.Contains(readme(tr.t), cmd) {
		tr.t.Errorf("README.md does not give the command %q", cmd)
	}
}

// loopback rewrites what the tour must not do on a test machine: listen
// on every address (only 127.0.0.1, on the default ports where they are
// free, else on free ones) and ask the machine's resolvers (a test DNS
// server on loopback answers instead).
func (tr *tour) loopback() {
	t := tr.t
	port := func(def string) string {
		l, err := net.Listen("tcp4", "127.0.0.1:"+def)
		if err != nil {
			return freePort(t)
		}
		l.Close()
		return "127.0.0.1:" + def
	}
	tr.smtp, tr.submission, tr.submissions = port("25"), port("587"), port("465")
	tr.imap, tr.imaps, tr.http, tr.https = port("143"), port("993"), port("80"), port("443")
	b, err := os.ReadFile(tr.config)
	if err != nil {
		t.Fatal(err)
	}
	dnsSrv := dnstest.Start(t, testZone(), dnstest.ServerOptions{})
	kv := map[string]string{
		"servers": fmt.Sprintf("[%q]", dnsSrv.Addr),
		"smtp":    fmt.Sprintf("[%q]", tr.smtp), "submission": fmt.Sprintf("[%q]", tr.submission),
		"submissions": fmt.Sprintf("[%q]", tr.submissions), "imap": fmt.Sprintf("[%q]", tr.imap),
		"imaps": fmt.Sprintf("[%q]", tr.imaps), "http": fmt.Sprintf("[%q]", tr.http), "https": fmt.Sprintf("[%q]", tr.https),
	}
	if err := os.WriteFile(tr.config, []byte(setKeys(t, string(b), kv)), 0o640); err != nil {
		t.Fatal(err)
	}
}

// serve runs "posthorn serve --config /etc/posthorn/posthorn.toml" and
// waits until it answers.
func (tr *tour) serve() {
	tr.t.Helper()
	tr.command("./posthorn serve --config /etc/posthorn/posthorn.toml")
	tr.srv = startServer(tr.t, io.Discard, "serve", "--config", tr.config)
	waitHealthy(tr.t, tr.srv, "http://"+tr.http+"/healthz")
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", tr.srv.cmd.Process.Pid))
	if !regexp.MustCompile(`(?m)^Uid:\s+` + strconv.Itoa(tr.uid) + `\s`).Match(status) {
		tr.t.Errorf("the server does not run as %s (uid %d):\n%s", tr.user, tr.uid, status)
	}
}

// mailServer is the tour's server seen through the e2e helpers.
func (tr *tour) mailServer() *mailServer {
	return &mailServer{t: tr.t, config: tr.config, smtp: tr.smtp, imaps: tr.imaps, http: tr.http,
		cert: filepath.Join(tr.data, "tls", "cert.pem"), srv: tr.srv}
}

// checkOwned fails for every file below the data directory that does not
// belong to the service user.
func (tr *tour) checkOwned() {
	tr.t.Helper()
	err := filepath.WalkDir(tr.data, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if int(st.Uid) != tr.uid || int(st.Gid) != tr.gid {
			tr.t.Errorf("%s belongs to %d:%d, mode %v; want %s (%d:%d)", p, st.Uid, st.Gid, fi.Mode(), tr.user, tr.uid, tr.gid)
		}
		return nil
	})
	if err != nil {
		tr.t.Fatal(err)
	}
}

// fetchBody reads message seq of postmaster@example.com's INBOX over IMAPS
// and returns the FETCH BODY[] answer.
func (tr *tour) fetchBody(seq int) string {
	tr.t.Helper()
	m := tr.mailServer()
	c, _ := dialIMAP(tr.t, tr.imaps, m.tlsConfig())
	c.login("postmaster@example.com", tr.password)
	c.ok("SELECT INBOX")
	return strings.Join(c.ok(fmt.Sprintf("FETCH %d BODY[]", seq)), "\n")
}

// TestReadmeTour runs README.md's "A short tour" as root, literally on
// contrib/posthorn.service's paths on a machine that has none of them
// (CI). The listeners are moved to 127.0.0.1 (the default ports where
// free) and DNS to a test server: nothing else differs from the README.
func TestReadmeTour(t *testing.T) {
	tr := newTour(t, tourOptions{literal: true})
	t.Logf("literal paths and user: %v (config %s, data %s, user %s)", tr.literal, tr.config, tr.data, tr.user)
	verifyUnit(t)
	tr.serve()

	subject := "tour " + strconv.Itoa(os.Getpid())
	if swaksPath, err := exec.LookPath("swaks"); err == nil {
		out, code := run(t, "", swaksPath, "--timeout", "20", "--server", tr.smtp, "--from", "alice@example.org",
			"--to", "postmaster@example.com", "--header", "Subject: "+subject, "--body", "Hello from the README tour.")
		if code != 0 {
			t.Fatalf("swaks exited %d:\n%s", code, out)
		}
	} else {
		t.Log("swaks not installed: delivering with the test's SMTP client")
		tr.mailServer().smtpDeliver("alice@example.org", "postmaster@example.com", testMail(subject, "Hello from the README tour."))
	}
	got := tr.fetchBody(countMessages(tr))
	if !strings.Contains(got, "Subject: "+subject) || !strings.Contains(got, "Hello from the README tour.") {
		t.Errorf("FETCH BODY[] of the delivered message:\n%s", got)
	}
	tr.srv.stop(t)
	if !strings.Contains(tr.srv.stderr.String(), "stopped") {
		t.Errorf("no clean shutdown:\n%s", tr.srv.stderr.String())
	}
	tr.checkOwned()
}

// countMessages is the number of messages in postmaster@example.com's
// INBOX.
func countMessages(tr *tour) int {
	tr.t.Helper()
	c, _ := dialIMAP(tr.t, tr.imaps, tr.mailServer().tlsConfig())
	c.login("postmaster@example.com", tr.password)
	for _, l := range c.ok("SELECT INBOX") {
		var n int
		if _, err := fmt.Sscanf(l, "* %d EXISTS", &n); err == nil {
			return n
		}
	}
	tr.t.Fatal("SELECT INBOX gave no EXISTS")
	return 0
}

// verifyUnit runs systemd-analyze verify on contrib/posthorn.service where
// systemd-analyze is installed, with ExecStart naming the binary under test
// (the unit's /usr/local/bin/posthorn is not installed by tests).
func verifyUnit(t *testing.T) {
	t.Helper()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: unit not verified")
		return
	}
	b, err := os.ReadFile("../../contrib/posthorn.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"ExecStart=/usr/local/bin/posthorn serve --config " + unitConfigDir + "/posthorn.toml", "ReadWritePaths=" + unitDataDir} {
		if !strings.Contains(unit, want) {
			t.Errorf("contrib/posthorn.service lacks %q", want)
		}
	}
	unit = strings.ReplaceAll(unit, "/usr/local/bin/posthorn", binary(t))
	p := filepath.Join(t.TempDir(), "posthorn.service")
	if err := os.WriteFile(p, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", p).CombinedOutput()
	if err != nil || strings.Contains(string(out), "posthorn.service:") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestRootCommandsKeepStoreOwned runs, as root and with the server
// stopped, every kind of command that writes the store (accounts, aliases,
// domains and their DKIM keys, a Maildir import with a body too large to
// keep inline) after the server has run once: every file they leave in the
// data directory must belong to the service user, and the server must
// then serve the imported mail (it answered FETCH BODY[] with
// NO [SERVERBUG] when import left root-owned blobs).
func TestRootCommandsKeepStoreOwned(t *testing.T) {
	tr := newTour(t, tourOptions{})
	tr.serve()
	tr.srv.stop(t)
	tr.checkOwned()

	cfg := []string{"--config", tr.config}
	mustRun(t, "mellow-Harbor-b0b-71\n", append([]string{"user", "add", "bob@example.com", "--password-stdin"}, cfg...)...)
	mustRun(t, "", append([]string{"alias", "add", "team@example.com", "bob@example.com"}, cfg...)...)
	mustRun(t, "", append([]string{"domain", "add", "example.org"}, cfg...)...)
	mustRun(t, "", append([]string{"dkim", "rotate", "example.org"}, cfg...)...)
	md := filepath.Join(t.TempDir(), "Maildir")
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	line := strings.Repeat("large body line ", 6) + "\n"
	big := "From: a@example.org\nSubject: imported large\nMessage-ID: <large@example.org>\n\n" +
		strings.Repeat(line, (256<<10)/len(line)) + "the end\n"
	if err := os.WriteFile(filepath.Join(md, "cur", "1.big:2,S"), []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "", append([]string{"import", "maildir", "postmaster@example.com", md}, cfg...)...)
	if !strings.Contains(out, "imported 1 messages") {
		t.Fatalf("import: %s", out)
	}
	tr.checkOwned()

	tr.serve()
	got := tr.fetchBody(countMessages(tr))
	if !strings.Contains(got, "Subject: imported large") || !strings.Contains(got, "the end") {
		t.Errorf("FETCH BODY[] of the imported message:\n%.500s", got)
	}
	tr.srv.stop(t)
}

// asUser runs a copy of the binary other users may run (the one under
// test is in a directory only root may enter) as the given user and group
// ids and returns its standard error and exit code.
func asUser(t *testing.T, uid, gid int, args ...string) (string, int) {
	t.Helper()
	b, err := os.ReadFile(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "posthorn")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	cmd.Dir = "/"
	var errb strings.Builder
	cmd.Stderr = &errb
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return errb.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return errb.String(), 0
}

// oneLine checks that out is one line holding every part of want.
func oneLine(t *testing.T, what, out string, want ...string) {
	t.Helper()
	t.Logf("%s: %s", what, out)
	if strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("%s: more than one line:\n%s", what, out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s: %q lacks %q", what, out, w)
		}
	}
}

// TestPermissionProblemsExplained puts the files of an installation where
// the server's user, or another user running the CLI, may not use them,
// and checks that each problem is one line naming the path, its owner and
// mode, and the fix.
func TestPermissionProblemsExplained(t *testing.T) {
	tr := newTour(t, tourOptions{})
	tr.serve()
	tr.srv.stop(t)
	cfg := []string{"--config", tr.config}
	mode := func(p string, m os.FileMode) {
		t.Helper()
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
	}

	// The configuration in a directory only root may enter, read by a
	// server started as its user (systemd's User=).
	errOut, code := asUser(t, tr.uid, tr.gid, append([]string{"serve"}, cfg...)...)
	if code == 0 {
		t.Fatal("serve as the user with an unreadable configuration succeeded")
	}
	oneLine(t, "unreadable configuration", errOut, tr.config, "permission denied for user "+tr.user, tr.etc+" belongs to root:root, mode 0750",
		"fix: let group "+tr.user+" read it: chgrp "+tr.user+" "+tr.etc+" && chmod g+rx "+tr.etc)
	mode(tr.etc, 0o755)
	mode(tr.config, 0o644)
	// Started as a user, serve cannot bind the low ports: a copy of the
	// configuration listens on a free port only.
	b, err := os.ReadFile(tr.config)
	if err != nil {
		t.Fatal(err)
	}
	noPorts := map[string]string{"http": fmt.Sprintf("[%q]", freePort(t))}
	for _, k := range []string{"smtp", "submission", "submissions", "imap", "imaps", "https"} {
		noPorts[k] = "[]"
	}
	asCfg := filepath.Join(tr.etc, "as-user.toml")
	writeFile(t, asCfg, setKeys(t, string(b), noPorts))
	mode(asCfg, 0o644)

	// index.db left to root by an older version of a command run as root.
	index := filepath.Join(tr.data, "store", "index.db")
	if err := os.Chown(index, 0, 0); err != nil {
		t.Fatal(err)
	}
	mode(index, 0o644)
	errOut, code = asUser(t, tr.uid, tr.gid, "serve", "--config", asCfg)
	if code == 0 {
		t.Fatal("serve with a root-owned index.db succeeded")
	}
	oneLine(t, "root-owned index.db", errOut, index, "permission denied for user "+tr.user, "belongs to root:root, mode 0644",
		"fix: give the data directory to the server's user: chown -R "+tr.user+": "+tr.data)
	// Started as root, serve hands the data directory over again itself.
	tr.serve()

	// The CLI run by another user while the server runs: the control
	// socket refuses it, and the CLI says so instead of trying the store.
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	nuid, _ := strconv.Atoi(nobody.Uid)
	errOut, code = asUser(t, nuid, nuid, append([]string{"user", "list"}, cfg...)...)
	if code == 0 {
		t.Fatal("user list as nobody succeeded")
	}
	oneLine(t, "control socket as nobody", errOut, "control socket "+filepath.Join(tr.data, "ctl.sock")+" refused the connection",
		filepath.Dir(tr.data)+"/posthorn belongs to "+tr.user+":"+tr.user+", mode 0750", "run the command as root")
	if strings.Contains(errOut, "store") {
		t.Errorf("the CLI tried the store after the socket refused it: %s", errOut)
	}
	tr.srv.stop(t)

	// A data directory below a directory the user may not enter: the
	// message names the directory in the way, not "mkdir: permission
	// denied" for a directory that exists.
	private := filepath.Join(filepath.Dir(tr.etc), "private")
	if err := os.MkdirAll(filepath.Join(private, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	mode(private, 0o700)
	noPorts["data_dir"] = fmt.Sprintf("%q", filepath.Join(private, "data"))
	hidden := filepath.Join(tr.etc, "hidden.toml")
	writeFile(t, hidden, setKeys(t, string(b), noPorts))
	mode(hidden, 0o644)
	errOut, code = asUser(t, tr.uid, tr.gid, "serve", "--config", hidden)
	if code == 0 {
		t.Fatal("serve with an unreachable data_dir succeeded")
	}
	oneLine(t, "unreachable data_dir", errOut, filepath.Join(private, "data"), "("+private+" is in the way)", private+" belongs to root:root, mode 0700", "fix: let group "+tr.user+" read it: chgrp "+tr.user+" "+private)

	// A certificate of the operator's own that only root may read.
	opCert, opKey := selfSignedPEM(t, tr.etc)
	mode(opCert, 0o644)
	noPorts["data_dir"] = fmt.Sprintf("%q", tr.data)
	noPorts["imaps"] = fmt.Sprintf("[%q]", freePort(t))
	noPorts["cert_file"], noPorts["key_file"] = fmt.Sprintf("%q", opCert), fmt.Sprintf("%q", opKey)
	certCfg := filepath.Join(tr.etc, "cert.toml")
	writeFile(t, certCfg, setKeys(t, string(b), noPorts))
	mode(certCfg, 0o644)
	errOut, code = asUser(t, tr.uid, tr.gid, "serve", "--config", certCfg)
	if code == 0 {
		t.Fatal("serve with an unreadable key succeeded")
	}
	oneLine(t, "unreadable key_file", errOut, opKey, "permission denied for user "+tr.user, "belongs to root:root, mode 0600",
		"fix: let group "+tr.user+" read it: chgrp "+tr.user+" "+opKey+" && chmod g+r "+opKey)

	// A data_dir that holds no store is not created by serve.
	empty := filepath.Join(tr.etc, "empty.toml")
	writeFile(t, empty, setKeys(t, string(b), map[string]string{"data_dir": fmt.Sprintf("%q", filepath.Join(tr.etc, "nodata"))}))
	_, errOut, code = posthorn(t, "", "serve", "--config", empty)
	if code == 0 {
		t.Fatal("serve on a data_dir that does not exist succeeded")
	}
	oneLine(t, "missing data_dir", errOut, filepath.Join(tr.etc, "nodata")+" does not exist", "posthorn init", "serve --create")
	if _, err := os.Stat(filepath.Join(tr.etc, "nodata")); err == nil {
		t.Error("serve created data_dir")
	}
}

// TestInitAfterUseradd creates the user first: init, run as root, then
// gives the data directory and all it creates to that user at once.
func TestInitAfterUseradd(t *testing.T) {
	tr := newTour(t, tourOptions{useraddFirst: true})
	if strings.Contains(tr.initOut, "useradd") {
		t.Errorf("init asks for a user that exists:\n%s", tr.initOut)
	}
	tr.checkOwned()
	tr.serve()
	if n := countMessages(tr); n != 0 {
		t.Errorf("%d messages in a new INBOX", n)
	}
	tr.srv.stop(t)
	tr.checkOwned()
}

// servedSerial is the serial number of the certificate the server presents
// on IMAPS.
func (tr *tour) servedSerial() string {
	tr.t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", tr.imaps,
		&tls.Config{ServerName: mailHost, InsecureSkipVerify: true}) // only to read the certificate
	if err != nil {
		tr.t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// TestCertificateReloadAfterDrop replaces the certificate files of a
// running server, which reads them as its user, and sends SIGHUP: a key
// only root may read is refused with one line that says how to fix it and
// the old certificate stays; once the key is the user's, the reload
// serves the new one.
func TestCertificateReloadAfterDrop(t *testing.T) {
	tr := newTour(t, tourOptions{})
	tr.serve()
	old := tr.servedSerial()

	certFile, keyFile := filepath.Join(tr.data, "tls", "cert.pem"), filepath.Join(tr.data, "tls", "key.pem")
	newCert, newKey := selfSignedPEM(t, t.TempDir())
	for from, to := range map[string]string{newCert: certFile, newKey: keyFile} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(to)
		if err := os.WriteFile(to, b, 0o600); err != nil { // root's, as an operator would copy them
			t.Fatal(err)
		}
	}
	if err := os.Chmod(certFile, 0o644); err != nil {
		t.Fatal(err)
	}
	waitLog := func(want string) string {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			for _, l := range strings.Split(tr.srv.stderr.String(), "\n") {
				if strings.Contains(l, want) {
					return l
				}
			}
		}
		t.Fatalf("no log line with %q:\n%s", want, tr.srv.stderr.String())
		return ""
	}
	tr.srv.cmd.Process.Signal(syscall.SIGHUP)
	line := waitLog("reload on SIGHUP")
	t.Logf("refused reload: %s", line)
	for _, want := range []string{keyFile, "permission denied for user " + tr.user, "belongs to root:root, mode 0600", "chown -R " + tr.user + ": " + tr.data} {
		if !strings.Contains(line, want) {
			t.Errorf("reload error %q lacks %q", line, want)
		}
	}
	if got := tr.servedSerial(); got != old {
		t.Errorf("serving certificate %s after a failed reload, want the old %s", got, old)
	}

	if err := os.Chown(keyFile, tr.uid, tr.gid); err != nil {
		t.Fatal(err)
	}
	tr.srv.cmd.Process.Signal(syscall.SIGHUP)
	waitLog("certificate reloaded")
	if got := tr.servedSerial(); got == old {
		t.Errorf("still serving the old certificate after SIGHUP")
	}
	tr.srv.stop(t)
}
