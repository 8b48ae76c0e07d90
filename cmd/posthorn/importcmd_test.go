package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/mailport"
)

// runCLI runs a command line in process and returns its outputs and code.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), &cliEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}, args)
	return out.String(), errb.String(), code
}

func TestImportExportCommands(t *testing.T) {
	dir := t.TempDir()
	if _, e, code := runCLI(t, "init", "--dir", dir, "--data-dir", filepath.Join(dir, "data"), "--domain", "example.com", "--hostname", "mail.example.com"); code != 0 {
		t.Fatalf("init: %s", e)
	}
	cfg := filepath.Join(dir, "posthorn.toml")
	md := filepath.Join(t.TempDir(), "Maildir")
	for _, d := range []string{"cur", "new", "tmp", ".Sent/cur"} {
		os.MkdirAll(filepath.Join(md, d), 0o700)
	}
	os.WriteFile(filepath.Join(md, "cur", "1.x:2,S"), []byte("Subject: a\nMessage-ID: <a@x>\n\nA\n"), 0o600)
	os.WriteFile(filepath.Join(md, ".Sent", "cur", "2.x:2,RS"), []byte("Subject: b\nMessage-ID: <b@x>\n\nB\n"), 0o600)
	os.WriteFile(filepath.Join(md, "cur", "junk"), []byte("\x00garbage"), 0o600)

	out, errOut, code := runCLI(t, "import", "maildir", "postmaster@example.com", md, "--config", cfg)
	if code != 0 || !strings.Contains(out, "imported 2 messages") || !strings.Contains(out, "1 skipped") {
		t.Fatalf("import: code %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "skipped "+filepath.Join(md, "cur", "junk")) {
		t.Errorf("the garbage file is not reported:\n%s", errOut)
	}
	out, _, _ = runCLI(t, "import", "maildir", "postmaster@example.com", md, "--config", cfg)
	if !strings.Contains(out, "imported 0 messages") || !strings.Contains(out, "2 already present") {
		t.Errorf("second import: %s", out)
	}
	exp := filepath.Join(t.TempDir(), "out")
	out, errOut, code = runCLI(t, "export", "postmaster@example.com", exp, "--format", "mbox", "--config", cfg)
	if code != 0 || !strings.Contains(out, "exported 2 messages") {
		t.Fatalf("export: code %d\n%s\n%s", code, out, errOut)
	}
	if b, err := os.ReadFile(filepath.Join(exp, "Sent.mbox")); err != nil || !bytes.Contains(b, []byte("X-Status: A\r\n")) {
		t.Errorf("Sent.mbox: %q, %v", b, err)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"import", "tar", "postmaster@example.com", md}, "unknown format"},
		{[]string{"import", "maildir", "postmaster@example.com"}, "want a format"},
		{[]string{"import", "maildir", "nobody@example.com", md}, "does not exist"},
		{[]string{"export", "postmaster@example.com", exp}, "not empty"},
		{[]string{"export", "postmaster@example.com", exp + "2", "--format", "zip"}, "unknown format"},
	} {
		_, errOut, code := runCLI(t, append(c.args, "--config", cfg)...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: code %d, stderr %q; want %q", c.args, code, errOut, c.want)
		}
	}

	// While something answers on the control socket, import refuses.
	l, err := net.Listen("unix", filepath.Join(dir, "data", "ctl.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, errOut, code = runCLI(t, "import", "maildir", "postmaster@example.com", md, "--config", cfg)
	if code == 0 || !strings.Contains(errOut, "server is running") {
		t.Errorf("import with a running server: code %d, %q", code, errOut)
	}
}

func TestProgressLines(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, "importing")
	p.every = 0
	p.start = time.Now().Add(-2 * time.Second)
	p.update(mailport.Progress{Messages: 50, TotalMessages: 100, Bytes: 1 << 20, TotalBytes: 4 << 20})
	p.problem(mailport.Problem{Path: "/x/cur/bad", Err: os.ErrInvalid})
	p.done()
	out := b.String()
	for _, want := range []string{"importing  25% 50/100 messages, 1.0 MiB/4.0 MiB, 25 msg/s, ETA 6s", "skipped /x/cur/bad: invalid argument"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\r") {
		t.Errorf("a non-terminal got a redrawn bar: %q", out)
	}
}
