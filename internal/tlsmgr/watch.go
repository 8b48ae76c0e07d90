package tlsmgr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// DefaultThresholds are the remaining lifetimes at which the postmaster is
// mailed about a certificate that was not renewed.
var DefaultThresholds = []time.Duration{14 * day, 7 * day, 3 * day, day}

const day = 24 * time.Hour

// dueThreshold returns the smallest threshold c has crossed, or 0 when
// none: remaining at most the threshold, and less than AlarmRatio of the
// lifetime left, so that thresholds a certificate reaches in its normal
// life (a short-lived one, renewed at a third) stay quiet.
func (m *Manager) dueThreshold(c CertStatus, now time.Time) time.Duration {
	remaining := c.NotAfter.Sub(now)
	lifetime := c.NotAfter.Sub(c.NotBefore)
	if float64(remaining) > m.opt.AlarmRatio*float64(lifetime) {
		return 0
	}
	var due time.Duration
	for _, t := range m.opt.Thresholds {
		if remaining <= t && (due == 0 || t < due) {
			due = t
		}
	}
	return due
}

// thresholdDays names a threshold in the state file: whole days, or
// negative seconds for thresholds shorter than a day (tests).
func thresholdDays(t time.Duration) int {
	if t >= day {
		return int(t / day)
	}
	return -int(t / time.Second)
}

// CheckExpiry runs the expiry watch once: for every certificate past a
// threshold not yet reported, it logs an error and mails the postmaster,
// then remembers every threshold crossed so each is reported once.
func (m *Manager) CheckExpiry(ctx context.Context) {
	now := m.opt.Now()
	st := m.Status()
	current := map[string]bool{}
	for _, c := range st.Certificates {
		if c.Key == "" {
			continue
		}
		current[c.Key] = true
		due := m.dueThreshold(c, now)
		if due == 0 {
			continue
		}
		m.mu.Lock()
		sent := slices.Contains(m.sent[c.Key], thresholdDays(due))
		m.mu.Unlock()
		if sent {
			continue
		}
		remaining := c.NotAfter.Sub(now)
		m.log.Error("tls: certificate expires soon and was not renewed", "names", c.Names,
			"not_after", c.NotAfter, "remaining", remaining.Round(time.Second),
			"last_attempt", c.LastAttempt, "last_error", c.LastError)
		if m.opt.Notifier != nil {
			if err := m.opt.Notifier.NotifyExpiry(ctx, Alarm{Cert: c, Threshold: due, Remaining: remaining}); err != nil {
				m.log.Error("tls: mailing the expiry alarm to the postmaster", "err", err)
				continue // try again at the next check
			}
		}
		m.mu.Lock()
		for _, t := range m.opt.Thresholds {
			if t >= due && !slices.Contains(m.sent[c.Key], thresholdDays(t)) {
				m.sent[c.Key] = append(m.sent[c.Key], thresholdDays(t))
			}
		}
		m.mu.Unlock()
	}
	m.mu.Lock()
	for k := range m.sent {
		if !current[k] {
			delete(m.sent, k) // replaced or removed certificates
		}
	}
	m.mu.Unlock()
	if err := m.saveState(); err != nil {
		m.log.Error("tls: saving alarm state", "err", err)
	}
}

// loadState reads the thresholds already reported.
func (m *Manager) loadState() error {
	m.sent = map[string][]int{}
	if m.opt.StateFile == "" {
		return nil
	}
	b, err := os.ReadFile(m.opt.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &m.sent); err != nil {
		return fmt.Errorf("tlsmgr: %s: %w", m.opt.StateFile, err)
	}
	return nil
}

// saveState writes the thresholds reported, atomically.
func (m *Manager) saveState() error {
	if m.opt.StateFile == "" {
		return nil
	}
	m.mu.Lock()
	b, err := json.Marshal(m.sent)
	m.mu.Unlock()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(m.opt.StateFile), ".tls-alarms-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), m.opt.StateFile)
}
