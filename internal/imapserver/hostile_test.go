package imapserver

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// A client that has not logged in cannot make the server hold a message:
// its literals are bounded by PreAuthMaxCommand, and a non-synchronizing
// literal over the limit is refused with the command's tag and the
// connection closed, without reading it (RFC 7888 §4).
func TestPreAuthLiteralRefused(t *testing.T) {
	e := newEnv(t)
	const size = 50 << 20
	for _, name := range []string{"APPEND", "LOGIN"} {
		t.Run(name, func(t *testing.T) {
			c := e.dial()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			line := "a1 APPEND INBOX {52428800+}\r\n"
			if name == "LOGIN" {
				line = "a1 LOGIN {52428800+}\r\n"
			}
			go func() {
				// The client sends its literal regardless, until the
				// server closes the connection.
				if _, err := io.WriteString(c.c, line); err != nil {
					return
				}
				chunk := []byte(strings.Repeat("x", 64<<10))
				for sent := 0; sent < size; sent += len(chunk) {
					if _, err := c.c.Write(chunk); err != nil {
						return
					}
				}
			}()
			if l := c.readLine(); !strings.HasPrefix(l, "a1 BAD [TOOBIG] ") {
				t.Fatalf("tagged response: %q", l)
			}
			if l := c.readLine(); !strings.HasPrefix(l, "* BYE [TOOBIG] ") {
				t.Fatalf("after the refusal: %q", l)
			}
			if _, err := c.br.ReadByte(); err == nil {
				t.Fatal("connection still open")
			}
			runtime.ReadMemStats(&after)
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
				t.Fatalf("the server allocated %d bytes for a refused literal", grew)
			}
		})
	}
}

// Before login, a synchronizing literal over the limit gets a tagged
// refusal and no "+": the client sends nothing and the session goes on.

func TestPreAuthSyncLiteralRefused(t *testing.T) {
	e := newEnv(t)
	c := e.dial()
	u, st := c.run("APPEND INBOX {52428800}")
	if !strings.Contains(st, "[TOOBIG] Literal too big (limit 16384 bytes)") {
		t.Fatalf("APPEND before login: %q %q", st, u)
	}
	c.ok("LOGIN " + testUser + " " + testPass)
	// After login the APPEND limit applies instead.
	c.send("a9 APPEND INBOX {100}\r\n")
	if l := c.readLine(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("APPEND after login: %q", l)
	}
}

// An over-long line is answered with its tag: the client waits for that
// response, not for an untagged one.
func TestLineTooLongTagged(t *testing.T) {
	e := newEnv(t)
	c := e.dial()
	// Before login the limit is PreAuthMaxCommand.
	tooLong := func(cmd string) {
		t.Helper()
		if _, st := c.run(cmd); st != "BAD [TOOBIG] Line too long" {
			t.Fatalf("%.20s… (%d bytes): %q", cmd, len(cmd), st)
		}
	}
	tooLong("NOOP " + strings.Repeat("x", PreAuthMaxCommand))
	c.ok("LOGIN " + testUser + " " + testPass)
	tooLong("NOOP " + strings.Repeat("x", DefaultMaxLine))
	c.ok("NOOP") // the session goes on
	// An over-long line that announced a synchronizing literal: the
	// client gets the tagged response instead of "+".
	tooLong("SEARCH TEXT " + strings.Repeat("x", DefaultMaxLine) + " {5}")
	c.ok("NOOP")
	// With a non-synchronizing literal the client sends the literal
	// anyway: the tagged response, then BYE.
	c.send("a7 SEARCH TEXT " + strings.Repeat("x", DefaultMaxLine) + " {5+}\r\nhello\r\n")
	if l := c.readLine(); l != "a7 BAD [TOOBIG] Line too long" {
		t.Fatalf("tagged response: %q", l)
	}
	if l := c.readLine(); !strings.HasPrefix(l, "* BYE [TOOBIG]") {
		t.Fatalf("after the refusal: %q", l)
	}
}

// No mailbox name with a control character gets past any command that
// takes one, in any encoding: "INB&\n-OX" selected INBOX (the base64
// decoder skipped the LF), and a name with a raw or encoded LF could be
// created.
func TestMailboxNameControlCharacters(t *testing.T) {
	e := newEnv(t)
	e.deliver("", simpleMsg, 0)
	c := e.login()
	c.ok("CREATE Dest")
	before := c.ok(`LIST "" *`)
	names := []string{
		"{8+}\r\nINB&\n-OX", // the fuzzer's find
		"{6+}\r\nDe&AAo-",   // LF encoded in a shift
		"{5+}\r\nDe\nst",    // a raw LF in a literal
		"{5+}\r\nDe\rst",
		"{5+}\r\nDe\x00st",
		"{8+}\r\nDest/&AIU-", // U+0085 (C1)
	}
	msg := "Subject: x\r\n\r\nx\r\n"
	for _, n := range names {
		for _, cmd := range []string{
			"CREATE " + n, "SELECT " + n, "EXAMINE " + n, "STATUS " + n + " (MESSAGES)",
			"DELETE " + n, "RENAME Dest " + n, "RENAME " + n + " Other", "SUBSCRIBE " + n, "UNSUBSCRIBE " + n,
			"APPEND " + n + fmt.Sprintf(" {%d+}\r\n", len(msg)) + msg, `LIST "" ` + n, "LSUB \"\" " + n,
			"GETQUOTAROOT " + n, "GETMETADATA " + n + " /private/comment",
		} {
			if _, st := c.run(cmd); !strings.HasPrefix(st, "BAD ") {
				t.Errorf("%q: %q, want BAD", cmd, st)
			}
		}
		c.ok("SELECT INBOX")
		for _, cmd := range []string{"COPY 1 " + n, "MOVE 1 " + n, "UID COPY 1:* " + n, "UID MOVE 1:* " + n} {
			if _, st := c.run(cmd); !strings.HasPrefix(st, "BAD ") {
				t.Errorf("%q: %q, want BAD", cmd, st)
			}
		}
		c.ok("UNSELECT")
	}
	// UTF8=ACCEPT names are UTF-8, with the same rule.
	c.ok("ENABLE UTF8=ACCEPT")
	for _, n := range []string{"{5+}\r\nDe\nst", "{4+}\r\na\u0085"} {
		if _, st := c.run("CREATE " + n); !strings.HasPrefix(st, "BAD ") {
			t.Errorf("UTF8=ACCEPT CREATE %q: %q, want BAD", n, st)
		}
	}
	if after := c.ok(`LIST "" *`); !slices.Equal(after, before) {
		t.Errorf("mailboxes changed:\n%q\nwant\n%q", after, before)
	}
}

// CREATE is all or nothing: a name over a limit creates no parent; and
// INBOX is case-insensitive as a parent too (RFC 9051 §5.1).
func TestCreateAtomicAndInboxParent(t *testing.T) {
	e := newEnv(t)
	c := e.login()
	before := c.ok(`LIST "" *`)
	deep := strings.Repeat("p/", 599) + "p" // 600 levels
	long := strings.Repeat("q", 600) + "/" + strings.Repeat("q", 600)
	for _, n := range []string{deep, long, "q1//y", "new/parent/" + deep} {
		if _, st := c.run("CREATE " + n); !strings.HasPrefix(st, "NO ") {
			t.Errorf("CREATE %.30s… (%d bytes): %q, want NO", n, len(n), st)
		}
	}
	if after := c.ok(`LIST "" *`); !slices.Equal(after, before) {
		t.Errorf("failed CREATEs left mailboxes:\n%q", after)
	}
	c.ok("CREATE inbox/x")
	c.expect("CREATE INBOX/x", "NO [ALREADYEXISTS]")
	c.ok("SELECT INBOX/x")
	c.ok("SELECT Inbox/x")
	u := c.ok(`LIST "" *`)
	has(t, u, `"/" INBOX/x`)
	hasNot(t, u, "inbox/x")
}

// On a full disk APPEND says so (NO [OVERQUOTA], not [SERVERBUG]), and
// the user can still free space: STORE \Deleted and EXPUNGE work.
func TestFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	e := newEnvIn(t, filepath.Join(mnt, "store"))
	big := "Subject: big\r\n\r\n" + strings.Repeat("x", 200<<10) + "\r\n"
	for range 10 {
		e.deliver("", big, 0)
	}
	f, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for range 1 << 12 {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	for range 1 << 12 {
		if _, err := f.Write(buf[:64]); err != nil {
			break
		}
	}
	f.Close()

	c := e.login()
	c.send(fmt.Sprintf("a1 APPEND INBOX {%d+}\r\n%s\r\n", len(big), big))
	if l := c.readLine(); !strings.HasPrefix(l, "a1 NO [OVERQUOTA] Not enough disk space") {
		t.Fatalf("APPEND on a full disk: %q", l)
	}
	c.ok("SELECT INBOX")
	c.ok("STORE 1:5 +FLAGS.SILENT (\\Deleted)")
	u := c.ok("EXPUNGE")
	if len(u) != 5 {
		t.Errorf("EXPUNGE on a full disk: %q", u)
	}
	c.ok("UID EXPUNGE 1:*")
}

// An AUTHENTICATE response over the line limit gets the command's tagged
// BAD [TOOBIG], and the session goes on.
func TestAuthenticateLineTooLong(t *testing.T) {
	e := newEnv(t)
	c := e.dial()
	c.send("a1 AUTHENTICATE PLAIN\r\n")
	if l := c.readLine(); !strings.HasPrefix(l, "+") {
		t.Fatalf("AUTHENTICATE: %q", l)
	}
	c.send(strings.Repeat("A", PreAuthMaxCommand+10) + "\r\n")
	if l := c.readLine(); l != "a1 BAD [TOOBIG] Line too long" {
		t.Fatalf("over-long response: %q", l)
	}
	c.ok("LOGIN " + testUser + " " + testPass)
}
