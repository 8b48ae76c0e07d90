package tlsmgr

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

type fakeNotifier struct{ alarms []Alarm }

func (f *fakeNotifier) NotifyExpiry(_ context.Context, a Alarm) error {
	f.alarms = append(f.alarms, a)
	return nil
}

func TestExpiryThresholds(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cf, kf := writePair(t, dir, "mx.example", start, start.Add(90*day))
	now := start
	n := &fakeNotifier{}
	state := filepath.Join(dir, "tls-alarms.json")
	newMgr := func() *Manager {
		m, err := New(Options{Files: &Files{CertFile: cf, KeyFile: kf}, Notifier: n, StateFile: state,
			Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := newMgr()
	ctx := context.Background()
	var got []time.Duration
	// Step through the certificate's life a day at a time; thresholds fire
	// once each, the day they are reached.
	for d := 0; d <= 90; d++ {
		now = start.Add(time.Duration(d) * day)
		if d == 80 {
			m = newMgr() // a restart keeps what was sent
		}
		m.CheckExpiry(ctx)
		m.CheckExpiry(ctx)
	}
	for _, a := range n.alarms {
		got = append(got, a.Threshold)
	}
	want := []time.Duration{14 * day, 7 * day, 3 * day, day}
	if !slices.Equal(got, want) {
		t.Fatalf("alarms at %v, want %v", got, want)
	}
	if n.alarms[0].Cert.Names[0] != "mx.example" || n.alarms[0].Remaining != 14*day {
		t.Fatalf("first alarm %+v", n.alarms[0])
	}
	if !m.Status().Alarm {
		t.Fatal("Status().Alarm not set near expiry")
	}
}

func TestExpiryJumpAndRatio(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// A 6-day certificate: 3 days left is half its life, which is its
	// normal renewal time, not an alarm; 1 day left is.
	cf, kf := writePair(t, dir, "short.example", start, start.Add(6*day))
	now := start.Add(3 * day)
	n := &fakeNotifier{}
	m, err := New(Options{Files: &Files{CertFile: cf, KeyFile: kf}, Notifier: n, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	m.CheckExpiry(context.Background())
	if len(n.alarms) != 0 || m.Status().Alarm {
		t.Fatalf("alarm at half life: %+v", n.alarms)
	}
	// Jumping past several thresholds at once sends one mail, for the
	// smallest, and marks the larger ones sent.
	now = start.Add(5*day + time.Hour)
	m.CheckExpiry(context.Background())
	now = now.Add(time.Hour)
	m.CheckExpiry(context.Background())
	if len(n.alarms) != 1 || n.alarms[0].Threshold != day {
		t.Fatalf("alarms %+v", n.alarms)
	}
}

func TestStatusFile(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	cf, kf := writePair(t, dir, "mx.example", now.Add(-time.Hour), now.Add(90*day))
	m, err := New(Options{Files: &Files{CertFile: cf, KeyFile: kf}})
	if err != nil {
		t.Fatal(err)
	}
	st := m.Status()
	if len(st.Certificates) != 1 {
		t.Fatalf("status %+v", st)
	}
	c := st.Certificates[0]
	if c.Source != "file" || c.Issuer != "mx.example" || !slices.Equal(c.Names, []string{"mx.example"}) ||
		len(c.TLSA311) != 64 || st.Alarm {
		t.Fatalf("status %+v", st)
	}
}
