package imapserver

import (
	"context"
	"strings"
	"testing"
)

func TestQuota(t *testing.T) {
	e := newEnv(t)
	c := e.login()
	// No quota: no quota root.
	u := c.ok("GETQUOTAROOT INBOX")
	has(t, u, "* QUOTAROOT INBOX")
	hasNot(t, u, `""`)
	hasNot(t, u, "* QUOTA ")
	c.expect(`GETQUOTA ""`, "NO [NONEXISTENT]")

	if err := e.st.SetQuota(context.Background(), e.acct.ID, 1024); err != nil {
		t.Fatal(err)
	}
	e.deliver("", simpleMsg, 0) // 187 octets: 1 KiB used, rounded up
	u = c.ok("GETQUOTAROOT INBOX")
	has(t, u, `* QUOTAROOT INBOX ""`, `* QUOTA "" (STORAGE 1 1)`)
	u = c.ok(`GETQUOTA ""`)
	has(t, u, `* QUOTA "" (STORAGE 1 1)`)
	c.expect(`GETQUOTA "other"`, "NO [NONEXISTENT]")
	c.expect("GETQUOTAROOT Nonexistent", "NO [NONEXISTENT]")
	c.expect(`SETQUOTA "" (STORAGE 100000)`, "NO [NOPERM]")
	c.expect(`SETQUOTA "" (STORAGE x)`, "BAD")
	has(t, c.ok("CAPABILITY"), " QUOTA QUOTA=RES-STORAGE")

	// APPEND over the quota fails with [OVERQUOTA] and stores nothing.
	big := "Subject: big\r\n\r\n" + strings.Repeat("x", 5000) + "\r\n"
	c.send("a100 APPEND INBOX {" + itoa(len(big)) + "+}\r\n" + big + "\r\n")
	if l := c.readLine(); !strings.HasPrefix(l, "a100 NO [OVERQUOTA]") {
		t.Fatalf("APPEND over quota: %q", l)
	}
	// COPY over the quota likewise; MOVE frees as much as it takes.
	for range 3 {
		e.deliver("", simpleMsg, 0)
	}
	c.ok("SELECT INBOX")
	c.ok("CREATE Other")
	c.expect("COPY 1:* Other", "NO [OVERQUOTA]")
	c.ok("MOVE 1:* Other")
	has(t, c.ok("STATUS Other (MESSAGES)"), "MESSAGES 4")
	has(t, c.ok(`GETQUOTA ""`), `* QUOTA "" (STORAGE 1 1)`)
}
