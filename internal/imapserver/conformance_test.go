package imapserver

import (
	"testing"
)

// Regressions found by an IMAP conformance suite and its stress mode
// (issue 12 §4), each as a raw transcript.

// TestListTildeAtom: an atom starting with "~" is a pattern, not a literal8.
func TestListTildeAtom(t *testing.T) {
	e := newEnv(t)
	c := e.login()
	c.ok(`CREATE ~foo`)
	u := c.ok(`LIST "" ~foo`)
	if len(u) != 1 || u[0] != `* LIST (\HasNoChildren) "/" ~foo` {
		t.Errorf("LIST \"\" ~foo: %q", u)
	}
}
