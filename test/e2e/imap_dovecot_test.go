package e2e

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dovecotServer is Debian's Dovecot (dovecot-imapd) on loopback, as the
// reference server of the differential tests: its own base_dir, every
// user's password "pass", Maildir storage as the vmail user (nobody when
// there is no vmail user) and its primary group, given by number (the group
// of nobody is nogroup on Debian, nobody elsewhere), "/" as the hierarchy
// separator and posthorn's special-use mailboxes.
type dovecotServer struct {
	dir         string
	imap, imaps string
}

const dovecotPW = "pass"

// startDovecot starts Dovecot, or skips the test when it is not installed
// or we are not root (Dovecot changes to the mail user).
func startDovecot(t *testing.T) *dovecotServer {
	t.Helper()
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		bin = "/usr/sbin/dovecot"
		if _, err := os.Stat(bin); err != nil {
			t.Skip("dovecot not installed (.ci/run installs dovecot-imapd)")
		}
	}
	if os.Getuid() != 0 {
		t.Skip("Dovecot needs root to switch to its mail user")
	}
	mailUser := "vmail"
	if _, err := user.Lookup(mailUser); err != nil {
		mailUser = "nobody"
	}
	u, err := user.Lookup(mailUser)
	if err != nil {
		t.Fatal("neither vmail nor nobody exists: Dovecot needs a mail user (.ci/run creates vmail)")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// Not t.TempDir: the mail user must be able to reach its Maildir.
	dir, err := os.MkdirTemp("", "posthorn-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Mkdir(filepath.Join(dir, "mail"), 0o755)
	os.Chown(filepath.Join(dir, "mail"), uid, gid)
	cert, key := selfSignedPEM(t, dir)
	d := &dovecotServer{dir: dir, imap: freePort(t), imaps: freePort(t)}
	conf := dovecotConf(dir, cert, key, u.Uid, u.Gid, d.imap, d.imaps)
	writeFile(t, filepath.Join(dir, "dovecot.conf"), conf)
	// The master daemonizes; its children must not hold a pipe of ours.
	out, err := os.Create(filepath.Join(dir, "start.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", filepath.Join(dir, "dovecot.conf"))
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	out.Close()
	if err != nil {
		b, _ := os.ReadFile(out.Name())
		t.Fatalf("dovecot: %v\n%s", err, b)
	}
	pidFile := filepath.Join(dir, "run", "master.pid")
	t.Cleanup(func() { stopDovecot(pidFile) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := dialTimeout(d.imap)
		if err == nil {
			c.Close()
			return d
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			t.Fatalf("dovecot not listening on %s: %v\n%s", d.imap, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopDovecot signals Dovecot's master process (by its pid file) and
// waits for it to exit.
func stopDovecot(pidFile string) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return
	}
	syscall.Kill(pid, syscall.SIGTERM)
	for range 100 {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
}

// dovecotConf is the configuration of TESTING.md plus the namespace that
// makes the mailbox list look like posthorn's.
func dovecotConf(dir, cert, key, uid, gid, imap, imaps string) string {
	r := strings.NewReplacer("DIR", dir, "CERT", cert, "KEY", key, "MAILUID", uid, "MAILGID", gid,
		"IMAPPORT", port(imap), "IMAPSPORT", port(imaps))
	return r.Replace(`base_dir = DIR/run
state_dir = DIR/state
instance_name = posthorn-test
listen = 127.0.0.1
protocols = imap
ssl = yes
ssl_cert = <CERT
ssl_key = <KEY
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:DIR/mail/%n
mail_uid = MAILUID
mail_gid = MAILGID
first_valid_uid = 1
log_path = DIR/dovecot.log
passdb {
  driver = static
  args = password=pass
}
userdb {
  driver = static
  args = uid=MAILUID gid=MAILGID home=DIR/mail/%n
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Archive {
    special_use = \Archive
    auto = subscribe
  }
  mailbox Drafts {
    special_use = \Drafts
    auto = subscribe
  }
  mailbox Junk {
    special_use = \Junk
    auto = subscribe
  }
  mailbox Sent {
    special_use = \Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \Trash
    auto = subscribe
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = IMAPPORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = IMAPSPORT
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0600
  }
  unix_listener stats-writer {
    mode = 0600
  }
}
`)
}
