package e2e

import (
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
	t              *testing.T
	etc, data      string // configuration directory, data directory
	config         string
	user           string // the service user
	uid, gid       int
	password       string // of postmaster@example.com, printed by init
	initOut        string
	smtp, imaps    string
	http, https    string
	submission     string
	submissions    string
	imap           string
	srv            *server
	literal        bool // the unit's own paths and user name
	readmeCommands []string
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

// newTour runs init and useradd as the README says. With literal, it
// uses the unit's paths and the user "posthorn" when this machine has
// none of them yet (a fresh CI machine); otherwise, and without literal,
// the same commands run under a temporary root prefix (--data-dir then
// names the prefixed data directory) with a user name of the test's own.
func newTour(t *testing.T, literal bool) *tour {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the README tour runs as root (CI runs as root)")
	}
	need(t, "useradd")
	tr := &tour{t: t, etc: unitConfigDir, data: unitDataDir, user: "posthorn", literal: literal}
	if literal {
		_, err1 := os.Lstat(unitConfigDir)
		_, err2 := os.Lstat(unitDataDir)
		_, err3 := user.Lookup("posthorn")
		tr.literal = errors.Is(err1, fs.ErrNotExist) && errors.Is(err2, fs.ErrNotExist) && err3 != nil
	}
	if !tr.literal {
		prefix := t.TempDir()
		// The service user must reach the data directory below it.
		if err := os.Chmod(prefix, 0o755); err != nil {
			t.Fatal(err)
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

	// README: ./posthorn init --dir /etc/posthorn --domain example.com --hostname mail.example.com
	args := []string{"init", "--dir", tr.etc, "--domain", "example.com", "--hostname", "mail.example.com"}
	if !tr.literal {
		args = append(args, "--data-dir", tr.data)
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

	// README: useradd … posthorn, exactly as init printed it.
	useradd := fmt.Sprintf("useradd --system --user-group --home-dir %s --shell /usr/sbin/nologin posthorn", unitDataDir)
	tr.command(useradd)
	if !strings.Contains(tr.initOut, "  "+strings.Replace(useradd, unitDataDir, tr.data, 1)) && tr.literal {
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
	tr.loopback()
	return tr
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
// server on loopback answers instead). A user of the test's own name
// replaces "posthorn" when the unit's user could not be used.
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
	if tr.user != "posthorn" {
		kv["user"] = fmt.Sprintf("%q", tr.user)
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
	tr := newTour(t, true)
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
