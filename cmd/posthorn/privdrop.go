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
		return fmt.Errorf("user %q: %w (create it, e.g. useradd --system --home-dir %s %s)", cfg.User, err, cfg.DataDir, cfg.User)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("user %q: non-numeric uid/gid", cfg.User)
	}
	if uid == 0 {
		return fmt.Errorf("user %q is root", cfg.User)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return err
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
// dir already belongs to them (the usual case after the first start).
func chownTree(dir string, uid, gid int) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == uid && int(st.Gid) == gid {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
