package main

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
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
