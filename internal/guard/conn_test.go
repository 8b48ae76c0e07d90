package guard

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestConnectLimits(t *testing.T) {
	type conn struct {
		addr      string
		wantLimit Limit // 0: accepted
		wantText  string
	}
	tests := []struct {
		name  string
		opt   Options
		conns []conn
	}{
		{"per IPv4 address", Options{MaxConnsPerIP: 2}, []conn{
			{"192.0.2.1", 0, ""}, {"192.0.2.1", 0, ""},
			{"192.0.2.1", LimitPerIP, "too many connections from 192.0.2.1 (2)"},
			{"::ffff:192.0.2.1", LimitPerIP, "192.0.2.1"},
			{"192.0.2.2", 0, ""},
		}},
		{"per IPv6 /64", Options{MaxConnsPerIP: 2}, []conn{
			{"2001:db8::1", 0, ""}, {"2001:db8::2", 0, ""},
			{"2001:db8::ffff", LimitPerIP, "2001:db8::/64"},
			{"2001:db8:0:1::1", 0, ""},
		}},
		{"total", Options{MaxConns: 3, MaxConnsPerIP: 2}, []conn{
			{"192.0.2.1", 0, ""}, {"192.0.2.2", 0, ""}, {"2001:db8::1", 0, ""},
			{"192.0.2.3", LimitTotal, "too many connections (3)"},
			{"127.0.0.1", LimitTotal, ""},
		}},
		{"loopback exempt from per-IP limit", Options{MaxConnsPerIP: 1, MaxConns: 4}, []conn{
			{"127.0.0.1", 0, ""}, {"127.0.0.1", 0, ""}, {"::1", 0, ""}, {"::1", 0, ""},
			{"::1", LimitTotal, ""},
		}},
		{"no limits", Options{MaxConnsPerIP: -1, MaxConns: -1}, []conn{
			{"192.0.2.1", 0, ""}, {"192.0.2.1", 0, ""}, {"192.0.2.1", 0, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := newGuard(t, tt.opt)
			var releases []func()
			for i, c := range tt.conns {
				rel, err := g.Connect(ip(c.addr))
				var le *LimitError
				switch {
				case c.wantLimit == 0 && err != nil:
					t.Errorf("conn %d from %s: %v", i, c.addr, err)
				case c.wantLimit == 0:
					releases = append(releases, rel)
				case !errors.As(err, &le) || le.Limit != c.wantLimit || !strings.Contains(le.Reason, c.wantText):
					t.Errorf("conn %d from %s: err %v, want limit %d with %q", i, c.addr, err, c.wantLimit, c.wantText)
				case rel != nil:
					t.Errorf("conn %d: release with error", i)
				}
			}
			if s := g.Stats(); s.Connections != len(releases) {
				t.Errorf("Stats.Connections = %d, want %d", s.Connections, len(releases))
			}
			for _, rel := range releases {
				rel()
				rel() // idempotent
			}
			if s := g.Stats(); s.Connections != 0 || s.ConnectedAddresses != 0 {
				t.Errorf("after release Stats = %+v", s)
			}
			// Everything is accepted again.
			for i, c := range tt.conns {
				if c.wantLimit == 0 {
					if _, err := g.Connect(ip(c.addr)); err != nil {
						t.Errorf("again, conn %d: %v", i, err)
					}
				}
			}
		})
	}
}

func TestReleaseIdempotent(t *testing.T) {
	g, _ := newGuard(t, Options{MaxConnsPerIP: 2})
	r1, _ := g.Connect(ip(a1))
	r2, _ := g.Connect(ip(a1))
	r1()
	r1()
	r1()
	// One slot free, not three.
	r3, err := g.Connect(ip(a1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Connect(ip(a1)); err == nil {
		t.Fatal("release counted more than once")
	}
	r2()
	r3()
	if s := g.Stats(); s.Connections != 0 {
		t.Errorf("Stats = %+v", s)
	}
	if err := (&LimitError{Reason: "x"}).Error(); err != "guard: x" {
		t.Errorf("Error() = %q", err)
	}
}

// TestConcurrent hammers one Guard from many goroutines; run with -race.
func TestConcurrent(t *testing.T) {
	g := New(Options{MaxConnsPerIP: 3, AccountBlockAfter: 50})
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Go(func() {
			for i := range 300 {
				a := ip(fmt.Sprintf("10.0.%d.%d", w%4, i%16))
				acct := fmt.Sprintf("user%d", i%5)
				if rel, err := g.Connect(a); err == nil {
					defer rel()
				}
				g.Blocked(a)
				if d := g.CheckAuth(a, acct); d.Allowed {
					if i%7 == 0 {
						g.AuthSucceeded(a, acct)
					} else {
						g.AuthFailed(a, acct)
					}
				}
				if i%50 == 0 {
					g.Stats()
					g.Unblock(a)
				}
			}
		})
	}
	wg.Wait()
	if s := g.Stats(); s.Connections != 0 || s.ConnectedAddresses != 0 {
		t.Errorf("Stats after all released = %+v", s)
	}
}

// Each service's pool has its own limits: filling one leaves the others
// and the Guard's own pool open, while logins are still limited across
// all of them.
func TestPools(t *testing.T) {
	g, _ := newGuard(t, Options{MaxConns: 3, MaxConnsPerIP: 2})
	imap := g.NewPool("IMAP", PoolLimits{MaxConns: 2, MaxConnsPerIP: -1})
	mx := g.NewPool("SMTP", PoolLimits{})
	p := Pools{Guard: g, ByService: map[string]*Pool{"imap": imap, "imaps": imap, "smtp": mx}}
	var rel []func()
	for _, svc := range []string{"imap", "imaps"} {
		r, err := p.ConnectService(ip("192.0.2.1"), svc)
		if err != nil {
			t.Fatalf("%s: %v", svc, err)
		}
		rel = append(rel, r)
	}
	_, err := p.ConnectService(ip("192.0.2.2"), "imap")
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != LimitTotal || le.Reason != "too many IMAP connections (2)" {
		t.Fatalf("third IMAP connection: %v", err)
	}
	// The MX pool takes the Guard's limits (3 in all, 2 per address).
	for i := range 2 {
		r, err := p.ConnectService(ip("192.0.2.1"), "smtp")
		if err != nil {
			t.Fatalf("smtp %d with IMAP full: %v", i, err)
		}
		rel = append(rel, r)
	}
	if _, err := p.ConnectService(ip("192.0.2.1"), "smtp"); !errors.As(err, &le) || le.Reason != "too many SMTP connections from 192.0.2.1 (2)" {
		t.Fatalf("third smtp connection from one address: %v", err)
	}
	// A service without a pool counts in the Guard's own.
	r, err := p.ConnectService(ip("192.0.2.1"), "lmtp")
	if err != nil {
		t.Fatal(err)
	}
	rel = append(rel, r)
	if st := g.Stats(); st.Connections != 5 {
		t.Errorf("Stats().Connections = %d, want 5", st.Connections)
	}
	for _, r := range rel {
		r()
	}
	if st := g.Stats(); st.Connections != 0 || st.ConnectedAddresses != 0 {
		t.Errorf("after release: %+v", st)
	}
	if _, err := p.ConnectService(ip("192.0.2.2"), "imap"); err != nil {
		t.Fatalf("IMAP after release: %v", err)
	}
}
