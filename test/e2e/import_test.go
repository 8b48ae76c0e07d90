package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// pyMessage is one message as testdata/mailport.py dumps it.
type pyMessage struct {
	Folder string   `json:"folder"`
	Flags  []string `json:"flags"`
	Date   int64    `json:"date"`
	Body   string   `json:"body"`
}

// mailportPy runs testdata/mailport.py: Python's mailbox module is the
// independent producer of the input and reader of the export.
func mailportPy(t *testing.T, args ...string) []pyMessage {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("Debian's python3 not installed")
	}
	out, err := exec.Command(py, append([]string{"testdata/mailport.py"}, args...)...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("mailport.py %v: %v\n%s", args, err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var msgs []pyMessage
	if args[0] != "make" {
		if err := json.Unmarshal(out, &msgs); err != nil {
			t.Fatal(err)
		}
	}
	slices.SortFunc(msgs, func(a, b pyMessage) int {
		return strings.Compare(a.Folder+"\x00"+a.Body, b.Folder+"\x00"+b.Body)
	})
	return msgs
}

func usedBytes(t *testing.T, cfg, account string) int64 {
	t.Helper()
	out := mustRun(t, "", "user", "list", "--config", cfg)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(account) + `\s+(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("user list lacks %s:\n%s", account, out)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// TestImportExport imports a Maildir tree and an mbox written by Python's
// mailbox module with the built binary, exports to Maildir and mbox, and
// has Python read the export back: same folders, messages, flags, dates.
func TestImportExport(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "", "init", "--dir", dir, "--data-dir", filepath.Join(dir, "data"), "--domain", "example.com", "--hostname", "mail.example.com")
	cfg := filepath.Join(dir, "posthorn.toml")
	const acct = "postmaster@example.com"
	in := t.TempDir()
	mailportPy(t, "make", in)
	wantMaildir := mailportPy(t, "dump-maildir", filepath.Join(in, "Maildir"))
	wantMbox := mailportPy(t, "dump-mbox", filepath.Join(in, "in.mbox"))
	// A file that is not a message is reported and skipped.
	os.WriteFile(filepath.Join(in, "Maildir", "cur", "garbage:2,S"), []byte("\x00\x01 not mail"), 0o600)

	before := usedBytes(t, cfg, acct)
	out, errOut, code := posthorn(t, "", "import", "maildir", acct, filepath.Join(in, "Maildir"), "--config", cfg)
	if code != 0 || !strings.Contains(out, "imported 7 messages") || !strings.Contains(out, "1 skipped") ||
		!strings.Contains(errOut, "garbage") {
		t.Fatalf("import maildir: exit %d\n%s\n%s", code, out, errOut)
	}
	out = mustRun(t, "", "import", "mbox", acct, filepath.Join(in, "in.mbox"), "--mailbox", "Archive/Old", "--config", cfg)
	if !strings.Contains(out, "imported 3 messages") {
		t.Fatalf("import mbox: %s", out)
	}
	if after := usedBytes(t, cfg, acct); after <= before {
		t.Errorf("usage %d after import, %d before", after, before)
	}
	// Running it again imports nothing.
	out = mustRun(t, "", "import", "mbox", acct, filepath.Join(in, "in.mbox"), "--mailbox", "Archive/Old", "--config", cfg)
	if !strings.Contains(out, "imported 0 messages") || !strings.Contains(out, "3 already present") {
		t.Errorf("second mbox import: %s", out)
	}

	exp := t.TempDir()
	mustRun(t, "", "export", acct, filepath.Join(exp, "md"), "--config", cfg)
	mustRun(t, "", "export", acct, filepath.Join(exp, "mbox"), "--format", "mbox", "--config", cfg)

	gotMaildir := mailportPy(t, "dump-maildir", filepath.Join(exp, "md"))
	folders := map[string]bool{}
	for _, m := range wantMaildir {
		folders[m.Folder] = true
	}
	gotMaildir = slices.DeleteFunc(gotMaildir, func(m pyMessage) bool { return !folders[m.Folder] })
	if !reflect.DeepEqual(gotMaildir, wantMaildir) {
		t.Errorf("Maildir export read by Python:\n got %+v\nwant %+v", gotMaildir, wantMaildir)
	}
	if got := mailportPy(t, "dump-mbox", filepath.Join(exp, "mbox", "Archive", "Old.mbox")); !reflect.DeepEqual(got, wantMbox) {
		t.Errorf("mbox export read by Python:\n got %+v\nwant %+v", got, wantMbox)
	}
	// The Maildir folders came out as mbox files too, with the same messages.
	gotLists := mailportPy(t, "dump-mbox", filepath.Join(exp, "mbox", "Lists", "Go.mbox"))
	var wantLists []pyMessage
	for _, m := range wantMaildir {
		if m.Folder == "Lists.Go" && m.Body != "" {
			m.Folder = ""
			wantLists = append(wantLists, m)
		}
	}
	if !reflect.DeepEqual(gotLists, wantLists) {
		t.Errorf("Lists/Go.mbox read by Python:\n got %+v\nwant %+v", gotLists, wantLists)
	}
}
