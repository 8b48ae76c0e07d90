package imapserver

import (
	"strings"
	"testing"
)

func TestListCreateRenameDelete(t *testing.T) {
	e := newEnv(t)
	c := e.login()
	u := c.ok(`LIST "" *`)
	has(t, u, `* LIST (\HasNoChildren) "/" INBOX`, `\Sent) "/" Sent`, `\Trash`)
	has(t, c.ok(`LIST "" ""`), `* LIST (\Noselect) "/" ""`)
	c.ok("CREATE Work/Projects/2024")
	u = c.ok(`LIST "" Work/%`)
	has(t, u, `* LIST (\HasChildren) "/" Work/Projects`)
	hasNot(t, u, "2024")
	c.expect("CREATE Work", "NO [ALREADYEXISTS]")
	c.expect("CREATE INBOX", "NO [ALREADYEXISTS]")
	c.ok(`CREATE Later (USE (\Archive))`)
	c.expect(`CREATE Bad (USE (\Flagged))`, "NO [USEATTR]")
	has(t, c.ok(`LIST (SPECIAL-USE) "" *`), `\Archive) "/" Later`)
	c.ok("RENAME Work Job")
	u = c.ok(`LIST "" *`)
	has(t, u, `"/" Job/Projects/2024`)
	hasNot(t, u, "Work")
	c.ok("DELETE Job/Projects/2024")
	c.expect("DELETE Nope", "NO [NONEXISTENT]")
	c.expect("DELETE INBOX", "NO")
	// Modified UTF-7 for an IMAP4rev1 client, UTF-8 after ENABLE.
	c.ok("CREATE &ZeVnLIqe-")
	has(t, c.ok(`LIST "" &ZeVnLIqe-`), `"/" &ZeVnLIqe-`)
	c.ok("UNSUBSCRIBE Sent")
	u = c.ok(`LSUB "" *`)
	has(t, u, `"/" INBOX`)
	hasNot(t, u, `"/" Sent`)
	u = c.ok(`LIST (SUBSCRIBED) "" * RETURN (CHILDREN)`)
	has(t, u, `\Subscribed) "/" INBOX`)
	hasNot(t, u, `"/" Sent`)
	c.ok("ENABLE UTF8=ACCEPT")
	has(t, c.ok(`LIST "" "日本語"`), `"/" "日本語"`)
}

func TestStatus(t *testing.T) {
	e := newEnv(t)
	e.deliver("", simpleMsg, 0)
	e.deliver("", simpleMsg, 1) // \Seen
	c := e.login()
	u := c.ok("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ RECENT)")
	has(t, u, "* STATUS INBOX (MESSAGES 2 UIDNEXT 3 UIDVALIDITY ", " UNSEEN 1 DELETED 0 SIZE ", " RECENT 0")
	u = c.ok(`LIST "" INBOX RETURN (STATUS (MESSAGES UNSEEN))`)
	if len(u) != 2 || !strings.HasPrefix(u[1], "* STATUS INBOX (MESSAGES 2 UNSEEN 1)") {
		t.Fatalf("LIST-STATUS: %q", u)
	}
	c.expect("STATUS Nope (MESSAGES)", "NO [NONEXISTENT]")
	c.expect("STATUS INBOX (BOGUS)", "BAD")
}
