package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/posthorn/posthorn/internal/config"
)

// dropPrivileges switches from root to the configured unprivileged user
// once the listening sockets are bound. The data directory is handed to that
// user first. Go applies setuid/setgid to every thread (since Go 1.16).
func dropPrivileges(cfg config.Config, log *slog.Logger) error {
	if os.Geteuid() != 0 {
		return nil
	}
	if cfg.User == "" {
		if cfg.AllowRoot {
			log.Warn("running as root: set \"user\" in the configuration to drop privileges")
			return nil
		}
		return errors.New(`refusing to run as root with an empty "user"; set user (e.g. "posthorn") or allow_root = true`)
	}
	u, err := user.Lookup(cfg.User)
	if err != nil {
		return fmt.Errorf("user %q: %w (create it: %s)", cfg.User, err, useraddCommand(cfg.User, cfg.DataDir))
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("user %q: non-numeric uid/gid", cfg.User)
	}
	if uid == 0 {
		return fmt.Errorf("user %q is root", cfg.User)
	}
	if err := chownTree(cfg.DataDir, uid, gid); err != nil {
		return fmt.Errorf("handing %s to %s: %w", cfg.DataDir, cfg.User, err)
	}
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid: %w", err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid: %w", err)
	}
	log.Info("dropped privileges", "user", cfg.User, "uid", uid, "gid", gid)
	return nil
}

// chownTree gives dir and everything below it to uid:gid, skipping work when
// dir and the top entries of it and its store already belong to them (the
// usual case after the first start; commands run as root keep it so).
func chownTree(dir string, uid, gid int) error {
	if ownedBy(dir, uid, gid) {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// ownedBy reports whether dir, its entries and those of dir/store and
// dir/store/blobs belong to uid:gid.
func ownedBy(dir string, uid, gid int) bool {
	paths := []string{dir}
	for _, d := range []string{dir, filepath.Join(dir, "store"), filepath.Join(dir, "store", "blobs")} {
		ents, err := os.ReadDir(d)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return false
		}
		for _, e := range ents {
			paths = append(paths, filepath.Join(d, e.Name()))
		}
	}
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			return false
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || int(st.Uid) != uid || int(st.Gid) != gid {
			return false
		}
	}
	return true
}

// useraddCommand is the command that creates the service user, as the
// README and contrib/posthorn.service give it.
func useraddCommand(name, home string) string {
	return fmt.Sprintf("useradd --system --user-group --home-dir %s --shell /usr/sbin/nologin %s", home, name)
}
