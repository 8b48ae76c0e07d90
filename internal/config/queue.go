package config

import (
	"net/netip"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
)

// Queue configures the outbound queue.
type Queue struct {
	RetryInitial             time.Duration `toml:"retry_initial" doc:"Wait after the first failed delivery attempt; each further failure doubles it, up to retry_max."`
	RetryMax                 time.Duration `toml:"retry_max" doc:"Longest wait between two delivery attempts."`
	DelayWarning             time.Duration `toml:"delay_warning" doc:"After this long undelivered, the sender gets a \"delayed\" notice (a DSN, RFC 3464) once, unless they asked for none (NOTIFY without DELAY). 0 disables the notices."`
	Expire                   time.Duration `toml:"expire" doc:"After this long undelivered, a message is returned to its sender with the last error (a bounce)."`
	Concurrency              int           `toml:"concurrency" doc:"Most destinations delivered to at once (one connection per destination domain)."`
	MaxHops                  int           `toml:"max_hops" doc:"Most Received header fields a message may have; a message with more is refused as looping (554 5.4.6)."`
	RelayDomains             []string      `toml:"relay_domains" doc:"Domains this server is a backup MX for: their mail is accepted from anyone, queued, and delivered to their best MX host that is not this one (it should have a lower MX preference than this server's record). Example: [\"example.net\"]."`
	RelayRecipients          []string      `toml:"relay_recipients" doc:"When not empty, the only addresses of relay_domains accepted (others get 550 at RCPT); keeps the backup MX from accepting spam for addresses the primary would refuse. Example: [\"alice@example.net\", \"bob@example.net\"]."`
	AccountMessagesPerDay    int           `toml:"account_messages_per_day" doc:"Most messages to other domains one account may send in 24 hours; the next is refused with 450 4.7.1 saying so. 0: no limit."`
	AccountRecipientsPerHour int           `toml:"account_recipients_per_hour" doc:"Most recipients at other domains one account may send to in an hour; further recipients are refused with 450 4.7.1 saying so. 0: no limit."`
	RequireTLSDomains        []string      `toml:"require_tls_domains" doc:"Destination domains whose mail is only sent over STARTTLS with a certificate valid (PKIX) for the MX host name; without it delivery is retried and eventually bounced. Applies on top of MTA-STS and DANE. Example: [\"bank.example\"]."`
	TLSCAFile                string        `toml:"tls_ca_file" doc:"PEM file of extra CA certificates trusted, besides the system roots, when verifying the certificates of MX hosts, smarthosts, MTA-STS policy servers and TLS-RPT collectors (a private CA; tests). Relative to the directory of this file. Empty: system roots only."`
	MTASTS                   bool          `toml:"mta_sts" doc:"Look up and apply the MTA-STS policies (RFC 8461) of destination domains: in enforce mode, MX hosts not listed in the policy or without a valid certificate are refused. Policies are cached in DATA_DIR/mta-sts-cache.json for their max_age and refreshed daily."`
	TLSReports               bool          `toml:"tls_reports" doc:"Send destination domains that publish a _smtp._tls TXT record the daily TLS-RPT report (RFC 8460) of our TLS sessions with them, just after midnight UTC, by mail (DKIM-signed, from postmaster@ the local domain of the hostname) or HTTPS. The day's tallies are saved in the store and survive restarts; posthorn tlsrpt send sends the pending reports at once."`
}

// Relay configures a smarthost.
type Relay struct {
	Host         string   `toml:"host" doc:"Host name of a smarthost (a relay such as your provider's submission server) to send outbound mail through instead of the recipients' MX hosts. Empty: deliver directly."`
	Port         int      `toml:"port" doc:"Port of the smarthost: usually 587 (STARTTLS) or 465 with implicit_tls. 0 means 587, or 465 with implicit_tls."`
	Username     string   `toml:"username" doc:"User name for AUTH at the smarthost. AUTH is only ever sent over TLS with a verified certificate. Empty: no AUTH."`
	PasswordFile string   `toml:"password_file" doc:"File holding the smarthost password (first line; mode 0600 advised), so the password is not in this file. Relative to the directory of this file."`
	ImplicitTLS  bool     `toml:"implicit_tls" doc:"Connect with TLS from the first byte (port 465, RFC 8314) rather than STARTTLS."`
	Domains      []string `toml:"domains" doc:"Destination domains sent through the smarthost; others are delivered directly. Empty: all outbound mail goes through it."`
}

func defaultQueue() Queue {
	return Queue{
		RetryInitial:             5 * time.Minute,
		RetryMax:                 4 * time.Hour,
		DelayWarning:             4 * time.Hour,
		Expire:                   5 * 24 * time.Hour,
		Concurrency:              16,
		MaxHops:                  50,
		AccountMessagesPerDay:    1000,
		AccountRecipientsPerHour: 500,
		MTASTS:                   true,
		TLSReports:               true,
	}
}

// checkQueue checks [queue] and [relay].
func checkQueue(q Queue, r Relay, report reportFunc) {
	at := func(k ...string) []string { return append([]string{"queue"}, k...) }
	if q.RetryInitial < time.Minute {
		report(at("retry_initial"), "must be at least 1m")
	}
	if q.RetryMax < q.RetryInitial {
		report(at("retry_max"), "must be at least retry_initial")
	}
	if q.DelayWarning < 0 {
		report(at("delay_warning"), "must not be negative")
	}
	if q.Expire < time.Hour {
		report(at("expire"), "must be at least 1h")
	}
	if q.Concurrency < 1 {
		report(at("concurrency"), "must be at least 1")
	}
	if q.MaxHops < 10 {
		report(at("max_hops"), "must be at least 10")
	}
	if q.AccountMessagesPerDay < 0 || q.AccountRecipientsPerHour < 0 {
		report(at("account_messages_per_day"), "limits must not be negative")
	}
	for _, d := range q.RequireTLSDomains {
		if _, err := addr.ParseDomain(d); err != nil {
			report(at("require_tls_domains"), "%q is not a valid domain name", d)
		}
	}
	for _, d := range q.RelayDomains {
		if _, err := addr.ParseDomain(d); err != nil {
			report(at("relay_domains"), "%q is not a valid domain name", d)
		}
	}
	for _, a := range q.RelayRecipients {
		p, err := addr.ParseAddress(a)
		if err != nil {
			report(at("relay_recipients"), "%q is not a valid address", a)
			continue
		}
		found := false
		for _, d := range q.RelayDomains {
			found = found || strings.EqualFold(d, p.Domain.ASCII) || strings.EqualFold(d, p.Domain.Unicode)
		}
		if !found {
			report(at("relay_recipients"), "%q is not in one of relay_domains", a)
		}
	}
	if r.Host == "" {
		if r.Username != "" || len(r.Domains) > 0 {
			report([]string{"relay", "host"}, "must be set with username or domains")
		}
		return
	}
	if _, err := addr.ParseDomain(r.Host); err != nil && !validIP(r.Host) {
		report([]string{"relay", "host"}, "%q is not a host name or IP address", r.Host)
	}
	if r.Port < 0 || r.Port > 65535 {
		report([]string{"relay", "port"}, "must be from 1 to 65535, or 0 for the default")
	}
	if (r.Username == "") != (r.PasswordFile == "") {
		report([]string{"relay", "password_file"}, "username and password_file go together")
	}
	for _, d := range r.Domains {
		if _, err := addr.ParseDomain(d); err != nil {
			report([]string{"relay", "domains"}, "%q is not a valid domain name", d)
		}
	}
}

func validIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}
