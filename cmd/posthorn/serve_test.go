package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/admin"
	"github.com/posthorn/posthorn/internal/admin/ctl"
	"github.com/posthorn/posthorn/internal/config"
)

// TestControlSocketServesTheBuiltServer calls the admin API over the
// control socket from the moment the socket accepts, while the server
// starts: the calls read the queue and the certificate manager, which must
// be in place before anything serves. Run with -race: a call served before
// runServer has finished building the admin value is a data race.
func TestControlSocketServesTheBuiltServer(t *testing.T) {
	dir := t.TempDir()
	cfg := localConfig(dir)
	cfg.Listen = config.Listen{}
	certFile, keyFile, err := ensureSelfSigned(filepath.Join(dir, "tls"), []string{"localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cfg.TLS = config.TLS{CertFile: certFile, KeyFile: keyFile}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	called := make(chan error, 1)
	go func() {
		c := &ctl.Client{Path: dataPaths(cfg.DataDir).socket}
		for ctx.Err() == nil {
			// Any answer, even "no certificate status", means the
			// server served the call.
			_, err := c.TLSStatus(ctx, admin.Empty{})
			var ue *admin.UserError
			if err != nil && !errors.As(err, &ue) {
				time.Sleep(time.Millisecond)
				continue
			}
			if _, err := c.RetryQueue(ctx, admin.QueueRequest{}); err != nil {
				called <- err
				return
			}
			_, err = c.TLSStatus(ctx, admin.Empty{})
			called <- err
			return
		}
	}()
	done := make(chan error, 1)
	go func() {
		done <- runServer(ctx, serverParams{cfg: cfg, logger: slog.New(slog.DiscardHandler), resolver: localResolver(cfg), create: true})
	}()
	select {
	case err := <-called:
		if err != nil {
			t.Errorf("TLSStatus over the control socket once it answers: %v", err)
		}
	case err := <-done:
		t.Fatalf("server stopped: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestNoStoreIsCreatedSilently runs serve and the admin CLI on a
// configuration whose data_dir does not exist, then exists but holds no
// store: both refuse and say how to make one, and nothing is created;
// serve --create makes an empty store.
func TestNoStoreIsCreatedSilently(t *testing.T) {
	dir := t.TempDir()
	cfg := localConfig(dir)
	cfg.Listen = config.Listen{}
	cfg.DNS.Servers = []string{"127.0.0.1:1"} // never asked
	path := filepath.Join(dir, "posthorn.toml")
	if err := os.WriteFile(path, cfg.TOML(), 0o600); err != nil {
		t.Fatal(err)
	}
	// A cancelled context: a serve that wrongly started would stop at
	// once, and the test fail instead of waiting.
	stopped, stop := context.WithCancel(context.Background())
	stop()
	for _, c := range []struct {
		setup func()
		want  string
	}{
		{func() {}, "does not exist"},
		{func() { os.Mkdir(cfg.DataDir, 0o700) }, "holds no store"},
	} {
		c.setup()
		for _, args := range [][]string{{"serve"}, {"user", "list"}, {"import", "mbox", "a@example.org", "/dev/null"}} {
			var errb strings.Builder
			code := run(stopped, &cliEnv{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &errb}, append(args, "--config", path))
			errOut := errb.String()
			if code != 1 || !strings.Contains(errOut, c.want) || !strings.Contains(errOut, "posthorn init") {
				t.Errorf("%v: exit %d, %q; want %q and how to make one", args, code, errOut, c.want)
			}
			if _, err := os.Stat(filepath.Join(cfg.DataDir, "store")); err == nil {
				t.Fatalf("%v created a store", args)
			}
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, &cliEnv{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}, []string{"serve", "--create", "--config", path})
	}()
	for {
		if _, err := os.Stat(dataPaths(cfg.DataDir).socket); err == nil {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve --create exited %d", code)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("serve --create: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "store", "index.db")); err != nil {
		t.Errorf("serve --create made no store: %v", err)
	}
}
