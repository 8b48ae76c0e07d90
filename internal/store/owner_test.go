package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestOwnerOfEveryFile opens a store as root with Options.Owner, as the
// CLI does on the store of a server that runs as another user, and checks
// that every file and directory the store creates belongs to the owner:
// the store directory, LOCK, index.db with its WAL and SHM, the snapshot
// of a migration, blobs/ with its directories, and large message bodies.
func TestOwnerOfEveryFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user")
	}
	dir := filepath.Join(t.TempDir(), "store")
	ctx := context.Background()
	owner := &Owner{UID: 54321, GID: 54322}
	big := bytes.Repeat([]byte("0123456789abcdef"), (inlineMax+1000)/16)

	s, err := openWith(ctx, dir, Options{Owner: owner}, migrations)
	if err != nil {
		t.Fatal(err)
	}
	acc := addAccount(t, s, "a@example.org")
	deliver(t, s, big, Target{AccountID: acc.ID})
	deliver(t, s, []byte("Subject: small\r\n\r\nhi\r\n"), Target{AccountID: acc.ID})
	checkOwner(t, dir, owner)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A migration snapshots the index first: the snapshot is the
	// owner's too, and so is everything written after the reopen.
	v2 := append(migrations[:len(migrations):len(migrations)], func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE extra (x INTEGER)`)
		return err
	})
	s, err = openWith(ctx, dir, Options{Owner: owner}, v2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	deliver(t, s, append([]byte("Subject: again\r\n\r\n"), big...), Target{AccountID: acc.ID})
	if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("index.db.before-v%d", len(v2)))); err != nil {
		t.Fatalf("no snapshot: %v", err)
	}
	if n := len(blobFiles(t, dir)); n != 2 {
		t.Errorf("%d blob files, want 2", n)
	}
	checkOwner(t, dir, owner)
}

// checkOwner fails for every entry below and including dir that does not
// belong to owner.
func checkOwner(t *testing.T, dir string, owner *Owner) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if int(st.Uid) != owner.UID || int(st.Gid) != owner.GID {
			t.Errorf("%s belongs to %d:%d, want %d:%d", p, st.Uid, st.Gid, owner.UID, owner.GID)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"LOCK", "index.db", "index.db-wal", "index.db-shm", "blobs/tmp", "blobs/ff"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			t.Errorf("expected %s in the store while it is open: %v", name, err)
		}
	}
}
