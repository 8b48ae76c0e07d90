package smtp

import "testing"

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"DMARC: read udp 127.0.0.1:51716->127.0.0.53:53: connection refused",
			"DMARC: read udp [address]->[address]: connection refused"},
		{"rcode SERVFAIL from 192.0.2.53:53)", "rcode SERVFAIL from [address])"},
		{"dial tcp [::1]:53: refused", "dial tcp [address]: refused"},
		{"dial tcp [2001:db8::1]:53: refused", "dial tcp [address]: refused"},
		{"server 10.1.2.3 failed", "server [address] failed"},
		{"server fe80::1%eth0 failed", "server [address] failed"},
		{"via ::1", "via [address]"},
		{"open /var/lib/posthorn/blobs/ab/cd: no space", "open [path]: no space"},
		{`file "/etc/posthorn/tls/key.pem" unreadable`, `file "[path]" unreadable`},
		// Kept: public addresses, times, media types, URLs, enhanced codes.
		{"Client host 198.51.100.7 is listed", "Client host 198.51.100.7 is listed"},
		{"SPF ip4:198.51.100.0/24 -all", "SPF ip4:198.51.100.0/24 -all"},
		{"see https://example.com/a/b at 12:30:00", "see https://example.com/a/b at 12:30:00"},
		{"text/plain is fine; 5.7.1 and RFC 7489 section 6.6.1", "text/plain is fine; 5.7.1 and RFC 7489 section 6.6.1"},
		{"<a@example.com>: no such user", "<a@example.com>: no such user"},
		{"a note:: and 0.0.0.0:25", "a note:: and [address]"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q)\n = %q\nwant %q", tt.in, got, tt.want)
		}
	}
}
