// Package config is posthorn's configuration file: the schema of the one
// TOML file as documented Go structs, and loading and validating it.
//
// Only cmd/posthorn imports this package; it copies the values into each
// service. The schema is the structs below: each field's toml tag is its key
// and its doc tag its documentation, from which both the commented file
// written by "posthorn init" ([Config.TOML]) and the reference in
// docs/config.md ([Markdown]) are generated. To add a section, add a struct
// type and a field of that type to [Config] with toml and doc tags, give its
// defaults in [Default], check its values in validate.go, and regenerate the
// docs with "go generate ./internal/config".
//
// Field types supported by the decoder: string, bool, int, []string,
// time.Duration (written as a string such as "90s") and structs (tables).
// Optional tags: enum:"a,b,c" (the allowed values of a string) and
// required:"true" (the key must be present and not empty).
package config

import "time"

//go:generate go test -run TestConfigDocs -update

// Config is the whole configuration file.
type Config struct {
	Hostname  string `toml:"hostname" required:"true" doc:"The host name of this mail server, as in its MX record: used in the SMTP greeting and HELO, and as the name in its TLS certificate."`
	DataDir   string `toml:"data_dir" required:"true" doc:"Directory holding the message store, blobs, generated certificates and the control socket; the server hands it to user and reads it as that user. posthorn init creates it (serve refuses a data_dir without a store unless started with --create). A relative path is relative to the directory of this file."`
	User      string `toml:"user" doc:"Unprivileged user to switch to after binding the listening ports. Empty means to keep running as the user that started posthorn, which is refused for root unless allow_root is true."`
	AllowRoot bool   `toml:"allow_root" doc:"Allow running as root when user is empty. Not recommended: a bug in any protocol handler would then run with full privileges."`

	Listen Listen `toml:"listen" doc:"Listening addresses. Each key is a list of host:port addresses, e.g. \"0.0.0.0:25\" or \"[::1]:143\"; an empty host means all addresses and port 0 picks a free port. An empty list disables the service."`
	DNS    DNS    `toml:"dns" doc:"DNS resolution, used for MX, SPF, DKIM, DMARC, DANE and MTA-STS lookups."`
	TLS    TLS    `toml:"tls" doc:"TLS certificates for all TLS listeners and STARTTLS: from cert_file and key_file, or from an ACME CA when acme.enabled is true. While implicit-TLS listeners (submissions, imaps, https) are enabled, one of the two is required. See docs/certificates.md."`
	ACME   ACME   `toml:"acme" doc:"Automatic certificates from an ACME CA (RFC 8555; Let's Encrypt by default) for the hostname, mta-sts.DOMAIN, autoconfig.DOMAIN and autodiscover.DOMAIN of every local domain, and names. Challenges are answered on the https (TLS-ALPN-01) and http (HTTP-01) listeners. The private key is kept across renewals so DANE TLSA 3 1 1 records stay valid. See docs/certificates.md."`
	Log    Log    `toml:"log" doc:"Logging, to standard error."`
	SMTP   SMTP   `toml:"smtp" doc:"The SMTP server: inbound mail (MX), submission and LMTP. Limits apply per connection unless said otherwise."`
	IMAP   IMAP   `toml:"imap" doc:"The IMAP server (listen.imap and listen.imaps). Failed logins are counted together with SMTP's (see docs/imap.md)."`
	Auth   Auth   `toml:"auth" doc:"Message authentication of inbound mail (MX and LMTP): iprev, SPF, DKIM, ARC and DMARC are checked, their results recorded in one Authentication-Results header field, and the DMARC policy of the sender's domain applied. See docs/authentication.md."`
	DKIM   DKIM   `toml:"dkim" doc:"DKIM signing of mail submitted by local users, with the keys of their domain (kept in the store; see \"posthorn dkim\"), and key rotation."`
	Queue  Queue  `toml:"queue" doc:"The outbound queue: mail for other servers (submitted, forwarded, for relay domains, bounces) is kept until delivered, retried with a doubling backoff, and returned to its sender with a plain-language report when it cannot be delivered. Also the backup MX (relay domains) and per-account sending limits."`
	Relay  Relay  `toml:"relay" doc:"A smarthost: send outbound mail through a relay host (all of it, or for some destination domains) instead of delivering it directly, e.g. when large providers distrust the IP addresses of this server."`
	HTTP   HTTP   `toml:"http" doc:"The web face on the http and https listeners: MTA-STS policies, client autoconfiguration, /metrics and /healthz. See docs/http.md, also for running behind a reverse proxy."`
	MTASTS MTASTS `toml:"mtasts" doc:"The MTA-STS policy (RFC 8461) served for every local domain at https://mta-sts.DOMAIN/.well-known/mta-sts.txt. Its mx is the hostname. The id in the _mta-sts TXT record printed by \"posthorn domain records\" changes whenever the policy does: republish it after changing these."`
}

// Listen holds the listening addresses of each service.
type Listen struct {
	SMTP        []string `toml:"smtp" doc:"SMTP for incoming mail from other servers (MX), with STARTTLS. Normally port 25."`
	Submission  []string `toml:"submission" doc:"Message submission by mail clients, with STARTTLS and authentication (RFC 6409). Normally port 587."`
	Submissions []string `toml:"submissions" doc:"Message submission over implicit TLS (RFC 8314). Normally port 465."`
	IMAP        []string `toml:"imap" doc:"IMAP with STARTTLS. Normally port 143."`
	IMAPS       []string `toml:"imaps" doc:"IMAP over implicit TLS (RFC 8314). Normally port 993."`
	HTTP        []string `toml:"http" doc:"Plain HTTP: redirects to HTTPS and, later, ACME HTTP-01 challenges. Normally port 80."`
	HTTPS       []string `toml:"https" doc:"HTTPS: MTA-STS policy, client autoconfiguration and the admin interface. Normally port 443."`
	LMTP        []string `toml:"lmtp" doc:"LMTP (RFC 2033) for local delivery from another MTA kept in front of posthorn: a Unix socket path (starting with /) or a loopback host:port. No authentication; recipients must be local. Off by default."`
}

// DNS configures name resolution.
type DNS struct {
	Servers []string `toml:"servers" doc:"Recursive resolvers to query, each an IP address and port, e.g. [\"127.0.0.1:53\"]. They should validate DNSSEC, which DANE needs. Empty means the resolvers in /etc/resolv.conf."`
}

// TLS configures the certificate served by all TLS listeners.
type TLS struct {
	CertFile       string        `toml:"cert_file" doc:"PEM file with the certificate chain, leaf first. Set together with key_file."`
	KeyFile        string        `toml:"key_file" doc:"PEM file with the private key of the certificate in cert_file. Both files are read as user, at start and on every reload, so user must be able to read them."`
	ReloadInterval time.Duration `toml:"reload_interval" doc:"How often cert_file and key_file are checked for changes (size and modification time); a changed valid pair is served from the next connection on, an invalid one is logged and the previous certificate kept. SIGHUP reloads at once."`
	AlarmTo        string        `toml:"alarm_to" doc:"Address mailed (delivered locally) when a certificate is 14, 7, 3 and 1 days from expiry without having been renewed. Empty: postmaster@ the first local domain."`
	CheckInterval  time.Duration `toml:"check_interval" doc:"How often the expiry watch looks at every certificate (ACME or files) and raises the alarm (error log line, alarm_to mail) for one near its expiry that was not renewed. 0 means one hour. Shorter values only make sense for tests with short-lived certificates."`
}

// ACME configures automatic certificates.
type ACME struct {
	Enabled            bool          `toml:"enabled" doc:"Obtain and renew certificates from the ACME CA instead of using tls.cert_file."`
	DirectoryURL       string        `toml:"directory_url" doc:"The CA's ACME directory URL. Empty: Let's Encrypt (https://acme-v02.api.letsencrypt.org/directory)."`
	Email              string        `toml:"email" doc:"Contact address of the ACME account, for the CA's notices. May be empty."`
	CARoot             string        `toml:"ca_root" doc:"PEM file of the roots trusted for the CA's own HTTPS endpoint, for a private or test CA such as pebble. Empty: the system's roots."`
	Names              []string      `toml:"names" doc:"More names to hold certificates for, e.g. the web interface's name. The hostname and, for every local domain, mta-sts.DOMAIN, autoconfig.DOMAIN and autodiscover.DOMAIN are always included; each needs a DNS record pointing here."`
	Challenges         []string      `toml:"challenges" doc:"Challenge types to use: \"tls-alpn-01\" (answered on the https listener, port 443) and \"http-01\" (on the http listener, port 80)."`
	HTTPPort           int           `toml:"http_port" doc:"Port the CA connects to for HTTP-01. 0 means 80; other values only make sense for test CAs."`
	TLSPort            int           `toml:"tls_port" doc:"Port the CA connects to for TLS-ALPN-01. 0 means 443; other values only make sense for test CAs."`
	RenewCheckInterval time.Duration `toml:"renew_check_interval" doc:"How often certificates are checked for renewal (at a third of their lifetime left, or when the CA's renewal information (ARI, RFC 9773) says). Failed renewals are retried with a backoff from 1 minute to 6 hours."`
}

// Log configures logging.
type Log struct {
	Level  string `toml:"level" enum:"debug,info,warn,error,trace" doc:"Least severe messages to log. trace adds protocol transcripts (with passwords redacted) to debug."`
	Format string `toml:"format" enum:"text,json" doc:"Log line format: text (key=value pairs) or json (one object per line)."`
}

// SMTP configures the SMTP, submission and LMTP listeners.
type SMTP struct {
	MaxMessageSize        int           `toml:"max_message_size" doc:"Largest message accepted, in bytes (a message of exactly this size is accepted). Advertised with the SIZE extension; a MAIL FROM with a larger SIZE= is refused before any data is sent."`
	MaxLineLength         int           `toml:"max_line_length" doc:"Longest command line accepted, in bytes with the line ending. A longer command ends the connection with a 500 reply. RFC 5321 requires at least 1000. Lines of the message itself are bounded only by max_message_size."`
	MaxRecipients         int           `toml:"max_recipients" doc:"Most recipients of one message; more get 452 4.5.3 and are sent in another transaction by the client (RFC 5321 requires at least 100)."`
	MaxConnections        int           `toml:"max_connections" doc:"Most connections at once on the MX listeners (listen.smtp). Further connections get 421 and are closed. Submission and IMAP have limits of their own (max_submission_connections, imap.max_connections), so that busy clients never keep mail from other servers out."`
	MaxSubmissionConns    int           `toml:"max_submission_connections" doc:"Most connections at once on the submission and submissions listeners together. Further connections get 421 and are closed."`
	MaxConnectionsPerIP   int           `toml:"max_connections_per_ip" doc:"Most connections at once from one IP address (IPv6: one /64) on the MX listeners, and apart from those on the submission listeners. Loopback addresses are exempt."`
	MaxCommandsBeforeMail int           `toml:"max_commands_before_mail" doc:"Most commands (NOOP, RSET, VRFY, HELO…) a client may send without starting a mail transaction before it is disconnected."`
	MaxErrors             int           `toml:"max_errors" doc:"Most rejected commands (unknown commands, syntax errors, refused recipients) per connection before it is closed with 421; slows down directory harvesting."`
	CommandTimeout        time.Duration `toml:"command_timeout" doc:"How long to wait for the next command (RFC 5321 §4.5.3.2.7 asks for at least 5 minutes)."`
	DataTimeout           time.Duration `toml:"data_timeout" doc:"How long to wait for the next piece of message data (RFC 5321 §4.5.3.2.6 asks for at least 3 minutes)."`
	GreetDelay            time.Duration `toml:"greet_delay" doc:"How long the MX listener waits before its greeting; a client that talks before the greeting (an early talker, typically spamware) is refused with 554. 0 only refuses data already received when the greeting is sent."`
	TrustedProxies        []string      `toml:"trusted_proxies" doc:"Networks (CIDR, e.g. \"10.0.0.0/8\", or single addresses) of load balancers that must begin each connection with a PROXY protocol v1 or v2 header giving the real client address. Connections from elsewhere never have a PROXY header read. Default: none."`
	XCLIENTNetworks       []string      `toml:"xclient_networks" doc:"Networks (CIDR or single addresses) of trusted front ends allowed to use the Postfix XCLIENT command to present the real client address, HELO name and login. Default: none."`
	SubmissionPrivacy     bool          `toml:"submission_privacy" doc:"Leave the client's IP address out of the Received header of submitted mail and remove its User-Agent and X-Mailer header fields."`
}

// IMAP configures the IMAP server's connection limits.
type IMAP struct {
	MaxConnections           int `toml:"max_connections" doc:"Most IMAP connections at once, over the imap and imaps listeners. Further connections get \"* BYE [LIMIT]\" and are closed. Counted apart from SMTP's: a full IMAP server still receives mail."`
	MaxConnectionsPerIP      int `toml:"max_connections_per_ip" doc:"Most IMAP connections at once from one IP address (IPv6: one /64). Loopback addresses are exempt. Mail clients open several connections per account (one per watched mailbox), and an office behind one address has many accounts."`
	MaxConnectionsPerAccount int `toml:"max_connections_per_account" doc:"Most IMAP sessions logged in to one account at once, from any addresses; a further login gets \"NO [LIMIT]\"."`
}

// Auth configures message authentication of inbound mail.
type Auth struct {
	AuthServID        string        `toml:"authserv_id" doc:"The authserv-id that names this server in Authentication-Results (RFC 8601 §2.5). Empty means the hostname. Incoming Authentication-Results fields that claim this id are removed, since only this server may write them."`
	DMARCReject       string        `toml:"dmarc_reject" enum:"reject,junk" doc:"What a DMARC failure under p=reject does: reject refuses the message with 550 5.7.1 and the reason at the end of DATA (the sender gets a bounce); junk delivers it to the recipient's Junk mailbox instead. p=quarantine always means Junk."`
	DMARCTempError    string        `toml:"dmarc_temperror" enum:"defer,accept" doc:"What a temporary DNS failure that keeps DMARC from being evaluated does: defer answers 451 4.4.3 so the sender retries later (unless the domain is known to publish only p=none); accept delivers the message with dmarc=temperror."`
	TrustedARCSealers []string      `toml:"trusted_arc_sealers" doc:"Domains of forwarders (mailing lists, forwarding services) whose ARC seal is trusted: when the ARC chain is intact and its latest sealer is one of these and recorded dmarc=pass, a local DMARC failure is not enforced (RFC 8617 §7.2). Example: [\"google.com\"]."`
	CheckTimeout      time.Duration `toml:"check_timeout" doc:"Longest time the DNS lookups of one message may take in total; lookups still unanswered then count as temporary failures."`
}

// DKIM configures DKIM signing and key rotation.
type DKIM struct {
	Sign                  bool          `toml:"sign" doc:"Sign mail submitted by authenticated users whose From domain is local with the domain's active DKIM keys (Ed25519 and RSA)."`
	RotationCheckInterval time.Duration `toml:"rotation_check_interval" doc:"How often the server looks up the DNS records of DKIM keys waiting after \"posthorn dkim rotate\"; once a new key's record is visible, the new keys sign and the old ones are retired."`
	KeepRetired           time.Duration `toml:"keep_retired" doc:"How long \"posthorn domain records\" keeps listing a retired DKIM key after the rotation that retired it began, so mail signed with it still verifies while in transit and in mailboxes that check later. Remove the record from DNS after that."`
}

// HTTP configures the web face.
type HTTP struct {
	MetricsNetworks []string `toml:"metrics_networks" doc:"Networks (CIDR or single addresses) besides loopback allowed to read /metrics; others get 403. Default: loopback only."`
	TrustedProxies  []string `toml:"trusted_proxies" doc:"Networks (CIDR or single addresses) of reverse proxies whose X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host headers are believed. From anywhere else they are ignored. Default: none."`
}

// MTASTS configures the published MTA-STS policy.
type MTASTS struct {
	Mode   string        `toml:"mode" enum:"enforce,testing,none" doc:"Policy mode: enforce (senders must deliver over TLS with a valid certificate for the hostname), testing (they deliver anyway and report failures with TLS-RPT) or none (withdraws a previous policy)."`
	MaxAge time.Duration `toml:"max_age" doc:"How long senders cache the policy (max_age, RFC 8461 §3.2), from 1h to 8760h (one year). Weeks are usual once the setup is stable."`
}

// Default returns a Config with every default value. Hostname has no default
// and must be set.
func Default() Config {
	return Config{
		DataDir: "/var/lib/posthorn",
		User:    "posthorn",
		Listen: Listen{
			SMTP:        []string{"0.0.0.0:25", "[::]:25"},
			Submission:  []string{"0.0.0.0:587", "[::]:587"},
			Submissions: []string{"0.0.0.0:465", "[::]:465"},
			IMAP:        []string{"0.0.0.0:143", "[::]:143"},
			IMAPS:       []string{"0.0.0.0:993", "[::]:993"},
			HTTP:        []string{"0.0.0.0:80", "[::]:80"},
			HTTPS:       []string{"0.0.0.0:443", "[::]:443"},
		},
		Log: Log{Level: "info", Format: "text"},
		SMTP: SMTP{
			MaxMessageSize:        50 << 20,
			MaxLineLength:         8192,
			MaxRecipients:         100,
			MaxConnections:        500,
			MaxSubmissionConns:    500,
			MaxConnectionsPerIP:   20,
			MaxCommandsBeforeMail: 50,
			MaxErrors:             20,
			CommandTimeout:        5 * time.Minute,
			DataTimeout:           3 * time.Minute,
			GreetDelay:            time.Second,
			SubmissionPrivacy:     true,
		},
		IMAP: IMAP{MaxConnections: 1000, MaxConnectionsPerIP: 50, MaxConnectionsPerAccount: 20},
		Auth: Auth{
			DMARCReject:    "reject",
			DMARCTempError: "defer",
			CheckTimeout:   30 * time.Second,
		},
		TLS: TLS{ReloadInterval: time.Minute, CheckInterval: time.Hour},
		ACME: ACME{
			Challenges:         []string{"tls-alpn-01", "http-01"},
			RenewCheckInterval: 10 * time.Minute,
		},
		DKIM: DKIM{
			Sign:                  true,
			RotationCheckInterval: time.Hour,
			KeepRetired:           30 * 24 * time.Hour,
		},
		Queue:  defaultQueue(),
		MTASTS: MTASTS{Mode: "enforce", MaxAge: 7 * 24 * time.Hour},
	}
}
