// Package smtpclient is posthorn's outbound SMTP client: it delivers one
// message to the recipients of one destination domain, through the
// domain's MX hosts (or a configured relay), with opportunistic STARTTLS,
// DANE (RFC 7672), MTA-STS (RFC 8461) and REQUIRETLS (RFC 8689), PIPELINING,
// CHUNKING, DSN parameters, a 7-bit downgrade for servers without 8BITMIME,
// and a result per recipient. Scheduling, retries and bounces belong to the
// queue; this package makes one attempt.
package smtpclient

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/mtasts"
	"github.com/posthorn/posthorn/internal/tlsrpt"
)

// Dialer opens connections; *net.Dialer implements it. Tests inject one
// that maps the addresses from DNS to loopback listeners.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Timeouts bound each protocol step. Zero fields take the RFC 5321
// §4.5.3.2 defaults (Connect: 30s, a local choice).
type Timeouts struct {
	Connect  time.Duration // TCP connect (and TLS handshake)
	Greeting time.Duration // initial 220: 5 min
	Command  time.Duration // EHLO, STARTTLS, MAIL, RCPT, RSET, AUTH: 5 min
	DataInit time.Duration // DATA command → 354: 2 min
	DataSend time.Duration // each write of message data: 3 min
	DataEnd  time.Duration // final "." or BDAT LAST → reply: 10 min
	// Idle is how long a cached connection may sit unused (default 30s).
	Idle time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.Connect, 30*time.Second)
	def(&t.Greeting, 5*time.Minute)
	def(&t.Command, 5*time.Minute)
	def(&t.DataInit, 2*time.Minute)
	def(&t.DataSend, 3*time.Minute)
	def(&t.DataEnd, 10*time.Minute)
	def(&t.Idle, 30*time.Second)
	return t
}

// Policy is the transport security a destination domain asks for, beyond
// opportunistic STARTTLS. DANE needs no configuration: the client looks up
// TLSA records itself whenever the MX answer is DNSSEC-authentic, and DANE
// takes precedence over MTA-STS (RFC 8461 §2).
type Policy struct {
	// MTASTS is the domain's MTA-STS policy (mtasts.Resolver.Lookup), nil
	// when it has none. In enforce mode MX hosts not listed and hosts
	// without a PKIX-valid certificate are skipped.
	MTASTS *mtasts.Policy
	// RequireVerifiedTLS: a locally configured requirement of STARTTLS
	// with a certificate valid (PKIX) for the MX host name.
	RequireVerifiedTLS bool
}

// PolicyFunc returns the Policy of a destination domain. An error is
// logged and treated as "no policy" (RFC 8461 §5.1: a failed policy fetch
// must not block delivery).
type PolicyFunc func(ctx context.Context, domain addr.Domain) (Policy, error)

// Client delivers messages. Its fields are read-only once in use; a Client
// is safe for concurrent use.
type Client struct {
	Resolver dns.Resolver
	// Hostname is our EHLO name.
	Hostname addr.Domain
	// Dialer opens TCP connections; nil means a *net.Dialer.
	Dialer Dialer
	// Port is the SMTP port of MX hosts: 25 when zero. Tests override it.
	Port int
	// TLSConfig returns the base TLS configuration for a server name (for
	// RootCAs; tests add their CA). nil means system roots. The client
	// sets ServerName and verification itself.
	TLSConfig func(host string) *tls.Config
	// Policy gives per-domain MTA-STS and local TLS requirements; nil means
	// opportunistic TLS (and DANE when published).
	Policy PolicyFunc
	// TLSRPT, when set, receives one success or failure per TLS session
	// attempt, keyed by policy domain (RFC 8460).
	TLSRPT *tlsrpt.Recorder
	Logger *slog.Logger
	// Now is the clock for DANE-TA certificate validity; nil: time.Now.
	Now      func() time.Time
	Timeouts Timeouts
	// MaxCached is the number of idle connections kept for reuse (per
	// destination one); zero means 8, negative disables the cache.
	MaxCached int

	cache connCache
}

// Message is one message to deliver. Body holds the message as stored
// (header and body, CRLF or LF line ends); it is sent with line ends
// normalised to CRLF and, for DATA, dot-stuffed.
type Message struct {
	// From is the envelope sender, "" for the null sender.
	From       string
	Recipients []Recipient
	Body       io.ReaderAt
	Size       int64
	// EnvID and Ret are the DSN MAIL parameters (RFC 3461 §4.3, §4.4):
	// EnvID as its plain value (xtext-encoded here), Ret "FULL" or "HDRS".
	EnvID, Ret string
	// SMTPUTF8: the envelope or header needs SMTPUTF8 (RFC 6531); a server
	// not offering it gets a permanent failure 5.6.7.
	SMTPUTF8 bool
	// RequireTLS: the REQUIRETLS MAIL parameter was given (RFC 8689).
	RequireTLS bool
	// Body8Bit: the body is 8BITMIME; a server without 8BITMIME gets a
	// 7-bit downgrade (see downgrade.go).
	Body8Bit bool
}

// Recipient is one envelope recipient. Notify and ORcpt are the DSN RCPT
// parameters as received (RFC 3461 §4.1, §4.2): Notify like
// "SUCCESS,FAILURE", ORcpt like "rfc822;user@example.com" (plain, not
// xtext; it is encoded here).
type Recipient struct {
	Address       string
	Notify, ORcpt string
}

// RecipientResult is the outcome for one recipient. Exactly one of
// Delivered, Permanent (bounce) or neither (retry later) holds.
type RecipientResult struct {
	Address   string
	Code      int    // the remote reply code, or a local one (e.g. 451, 550)
	Enhanced  string // "5.1.1", or "" when none
	Text      string // the reply text, or a plain-language local reason
	Permanent bool
	Delivered bool
	// Remote: Code/Text came from the server named in Result.MX.
	Remote bool
}

// TLSInfo describes the TLS of the connection that carried the message.
type TLSInfo struct {
	Version, Cipher string // "" without TLS
	// Verified: the certificate was verified (PKIX for the MX name, or
	// DANE).
	Verified bool
	// Policy is "dane", "mta-sts", "required" (local configuration),
	// "opportunistic" or "none" (no TLS used).
	Policy string
}

// Result is the outcome of one Deliver. PerRecipient has one entry per
// Message.Recipients, in order, always.
type Result struct {
	PerRecipient []RecipientResult
	MX           string // the host that answered last ("host [ip]")
	TLS          TLSInfo
	// DSN: the server that answered last offered the DSN extension
	// (RFC 3461), so it passes NOTIFY=SUCCESS requests on itself and the
	// queue need not report "relayed" (RFC 3461 §6.2.2).
	DSN bool
	// Err is the last connection-level error (DNS, connect, TLS, policy,
	// protocol), nil when every host answered. It is for logs; the
	// recipients' results already say what to do.
	Err error
}

// Relay is a smarthost. Username set means AUTH PLAIN (or LOGIN when only
// that is offered), which is only ever sent over TLS with a verified
// certificate: STARTTLS is then mandatory.
type Relay struct {
	Host               string // a host name or IP address
	Port               int    // 587 when zero (465 when ImplicitTLS)
	Username, Password string
	ImplicitTLS        bool // TLS from the first byte (port 465, RFC 8314)
}
