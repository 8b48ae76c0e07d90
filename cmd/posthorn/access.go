package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/posthorn/posthorn/internal/admin/ctl"
	"github.com/posthorn/posthorn/internal/config"
	"github.com/posthorn/posthorn/internal/store"
)

// Files and permissions of an installation.
//
// The configuration file is read once, before the privilege drop; every
// other file (the data directory, certificate files named in [tls], ACME
// state) is read by the server as its unprivileged user, at start and again
// on reload (SIGHUP, reload_interval), so what works at start keeps working
// on reload. posthorn init therefore puts what it generates for the server
// (store, self-signed certificate) in the data directory, which serve,
// started as root, hands to the user before it drops privileges. Commands
// run as root on the store give what they create to that user
// (store.Options.Owner).

// accessHelp turns permission errors on paths into one line naming the
// path, what refused it (owner and mode), and the fix.
type accessHelp struct {
	dataDir string
	// server: this process is the server, running as its own user;
	// otherwise a command of the admin CLI.
	server bool
}

// accessError is an explained permission error.
type accessError struct {
	msg string
	err error
}

func (e *accessError) Error() string { return e.msg }
func (e *accessError) Unwrap() error { return e.err }

// explain returns err unchanged unless it is a permission or read-only
// file-system error on a path; then it returns one line that says which
// file or directory refused whom, its owner and mode, and how to fix it.
func (h accessHelp) explain(err error) error {
	var pe *fs.PathError
	var ae *accessError
	if err == nil || errors.As(err, &ae) || !errors.As(err, &pe) {
		return err
	}
	path, err0 := pe.Path, pe.Err
	if !filepath.IsAbs(path) {
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
	}
	if errors.Is(err0, syscall.EROFS) {
		return &accessError{err: err, msg: fmt.Sprintf("%s: read-only file system; the server writes only in its data directory %s "+
			"(the systemd unit allows writes only under ReadWritePaths=): put data_dir there", path, h.dataDir)}
	}
	if !errors.Is(err0, fs.ErrPermission) {
		return err
	}
	blocked := blockingPath(path)
	fi, statErr := os.Lstat(blocked)
	if statErr != nil {
		return err
	}
	who := currentUser()
	owner, group := fileOwner(fi)
	what := fmt.Sprintf("%s: permission denied for %s", path, who.desc)
	if blocked != path {
		what += fmt.Sprintf(" (%s is in the way)", blocked)
	}
	state := fmt.Sprintf("%s belongs to %s:%s, mode %04o", blocked, owner, group, fi.Mode().Perm())
	var fix string
	switch {
	case !h.server:
		holder := owner
		if h.dataDir != "" && within(blocked, h.dataDir) {
			if dfi, err := os.Lstat(h.dataDir); err == nil {
				holder, _ = fileOwner(dfi)
			}
		}
		fix = "run the command as root (sudo posthorn …)"
		if holder != "root" && holder != who.name {
			fix = fmt.Sprintf("run the command as root or as %s (sudo -u %s posthorn …)", holder, holder)
		}
	case h.dataDir != "" && within(blocked, h.dataDir):
		fix = fmt.Sprintf("give the data directory to the server's user: chown -R %s: %s", who.name, h.dataDir)
	case fi.IsDir():
		fix = fmt.Sprintf("let group %s read it: chgrp %s %s && chmod g+rx %s", who.group, who.group, blocked, blocked)
	default:
		fix = fmt.Sprintf("let group %s read it: chgrp %s %s && chmod g+r %s", who.group, who.group, blocked, blocked)
	}
	return &accessError{err: err, msg: what + "; " + state + "; fix: " + fix}
}

// blockingPath returns the first directory above path that this process
// may not search, else path itself if it exists, else its directory (which
// then refused the creation).
func blockingPath(path string) string {
	parts := strings.Split(strings.TrimPrefix(filepath.Clean(path), "/"), "/")
	cur := "/"
	for _, p := range parts[:len(parts)-1] {
		cur = filepath.Join(cur, p)
		if unix.Faccessat(unix.AT_FDCWD, cur, unix.X_OK, unix.AT_EACCESS) != nil {
			return cur
		}
	}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return filepath.Dir(path)
	}
	return path
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

type who struct{ name, group, desc string }

// currentUser names the effective user and group of this process.
func currentUser() who {
	uid, gid := os.Geteuid(), os.Getegid()
	w := who{name: strconv.Itoa(uid), group: strconv.Itoa(gid)}
	if u, err := user.LookupId(w.name); err == nil {
		w.name = u.Username
	}
	if g, err := user.LookupGroupId(w.group); err == nil {
		w.group = g.Name
	}
	w.desc = fmt.Sprintf("user %s (uid %d)", w.name, uid)
	return w
}

// fileOwner returns the names (or numbers) of fi's owner and group.
func fileOwner(fi fs.FileInfo) (string, string) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "?", "?"
	}
	owner, group := strconv.Itoa(int(st.Uid)), strconv.Itoa(int(st.Gid))
	if u, err := user.LookupId(owner); err == nil {
		owner = u.Username
	}
	if g, err := user.LookupGroupId(group); err == nil {
		group = g.Name
	}
	return owner, group
}

// checkStore makes sure the data directory holds a store. A data directory
// is created only by init, or by serve --create (create).
func checkStore(paths dataDirPaths, create bool) error {
	index := filepath.Join(paths.store, "index.db")
	_, err := os.Stat(index)
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return err
	case create:
		return os.MkdirAll(paths.dir, 0o750)
	}
	if _, err := os.Stat(paths.dir); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("data_dir %s does not exist: check data_dir in the configuration; posthorn init creates it with a store "+
			"(serve --create starts with an empty one)", paths.dir)
	}
	return fmt.Errorf("data_dir %s holds no store (no %s): check data_dir in the configuration; posthorn init creates one "+
		"(serve --create starts with an empty one)", paths.dir, index)
}

// serviceOwner is the owner of the files a command run as root creates in
// the data directory: the configured user, once it exists. Nil when not
// root, when the configuration runs as root, or before the user is created
// (serve, started as root, then hands the data directory over).
func serviceOwner(cfg config.Config) *store.Owner {
	if os.Geteuid() != 0 || cfg.User == "" {
		return nil
	}
	u, err := user.Lookup(cfg.User)
	if err != nil {
		return nil
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil || uid == 0 {
		return nil
	}
	return &store.Owner{UID: uid, GID: gid}
}

// dialControl returns a client of the running server's control socket, or
// nil when no server listens there (no socket, or a stale one). A socket
// this user may not connect to is an error that says so: falling back to
// the store would then only fail less clearly.
func dialControl(paths dataDirPaths) (*ctl.Client, error) {
	c, err := ctl.Dial(paths.socket)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return nil, nil
	}
	msg := fmt.Sprintf("control socket %s refused the connection (%v)", paths.socket, errors.Unwrap(err))
	if errors.Is(err, fs.ErrPermission) {
		blocked := blockingPath(paths.socket)
		if fi, serr := os.Lstat(blocked); serr == nil {
			owner, group := fileOwner(fi)
			msg += fmt.Sprintf("; %s belongs to %s:%s, mode %04o: only root and the server's user may use the socket", blocked, owner, group, fi.Mode().Perm())
		}
		msg += "; run the command as root (sudo posthorn …)"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Timeout() {
		msg += "; the server does not answer: check that it runs (systemctl status posthorn)"
	}
	return nil, errors.New(msg)
}

// openExisting opens the store of an installation for a command of the
// CLI: it must exist (init creates it), and what the command creates in it
// goes to the server's user when the command runs as root.
func openExisting(ctx context.Context, cfg config.Config, paths dataDirPaths) (*store.SQLite, error) {
	help := accessHelp{dataDir: paths.dir}
	if err := checkStore(paths, false); err != nil {
		return nil, help.explain(err)
	}
	st, err := openStore(ctx, paths, nil, serviceOwner(cfg))
	return st, help.explain(err)
}
