package imapserver

import (
	"strings"
	"testing"
)

func TestMetadata(t *testing.T) {
	e := newEnv(t)
	c := e.login()
	has(t, c.ok("CAPABILITY"), " METADATA")

	// Server entries.
	c.ok(`SETMETADATA "" (/private/comment "my note" /shared/Vendor/x/y {5+}` + "\r\nhello)")
	u := c.ok(`GETMETADATA "" /private/comment`)
	has(t, u, `* METADATA "" (/private/comment "my note")`)
	// Names are case-insensitive; a missing entry is NIL.
	u = c.ok(`GETMETADATA "" (/PRIVATE/Comment /private/missing)`)
	has(t, u, `* METADATA "" (/private/comment "my note" /private/missing NIL)`)
	// DEPTH.
	u = c.ok(`GETMETADATA (DEPTH 1) "" /shared/vendor`)
	has(t, u, `* METADATA "" (/shared/vendor NIL)`)
	u = c.ok(`GETMETADATA (DEPTH infinity) "" /shared`)
	has(t, u, `* METADATA "" (/shared/vendor/x/y "hello")`)
	u = c.ok(`GETMETADATA (DEPTH 1) "" /shared/vendor/x`)
	has(t, u, `* METADATA "" (/shared/vendor/x/y "hello")`)
	// MAXSIZE leaves the long ones out and says how long they are.
	u, st := c.run(`GETMETADATA (MAXSIZE 5 DEPTH infinity) "" /private`)
	hasNot(t, u, "my note")
	if st != "OK [METADATA LONGENTRIES 7] GETMETADATA completed" {
		t.Errorf("MAXSIZE: %q", st)
	}

	// Mailbox entries, binary values, deletion.
	c.ok("CREATE Box")
	c.ok("SETMETADATA Box (/private/comment ~{3}\r\na\x00b /shared/comment \"x\")")
	u = c.ok("GETMETADATA (DEPTH infinity) Box (/private /shared)")
	has(t, u, "* METADATA Box (/private/comment ~{3}\r\na\x00b /shared/comment \"x\")")
	c.ok("SETMETADATA Box (/shared/comment NIL)")
	u = c.ok("GETMETADATA (DEPTH infinity) Box /shared")
	hasNot(t, u, "* METADATA")
	// Renaming keeps the entries, deleting the mailbox drops them.
	c.ok("RENAME Box Box2")
	has(t, c.ok("GETMETADATA Box2 /private/comment"), "a\x00b")
	c.ok("DELETE Box2")
	c.ok("CREATE Box2")
	has(t, c.ok("GETMETADATA Box2 /private/comment"), "(/private/comment NIL)")

	// Errors.
	c.expect("GETMETADATA Nonexistent /private/comment", "NO [NONEXISTENT]")
	c.expect(`SETMETADATA Nonexistent (/private/comment "x")`, "NO [NONEXISTENT]")
	c.expect(`SETMETADATA "" (/other/comment x)`, "BAD")
	c.expect(`SETMETADATA "" (/private/ x)`, "BAD")
	c.expect(`SETMETADATA "" (/private/a* x)`, "BAD")
	c.expect(`SETMETADATA "" ()`, "BAD")
	c.expect(`GETMETADATA (DEPTH 2) "" /private`, "BAD")
	big := strings.Repeat("v", MaxMetadataValue+1)
	c.expect(`SETMETADATA "" (/private/big {`+itoa(len(big))+"+}\r\n"+big+")", "NO [METADATA MAXSIZE 65536]")
	// TOOMANY: past MaxMetadataEntries nothing is set.
	var b strings.Builder
	b.WriteString(`SETMETADATA "" (`)
	for i := range MaxMetadataEntries {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("/private/n" + itoa(i) + ` "x"`)
	}
	b.WriteString(")")
	c.expect(b.String(), "NO [METADATA TOOMANY]")
	hasNot(t, c.ok(`GETMETADATA (DEPTH 1) "" /private`), "/private/n1 ")
}
