// Package sasl implements the server side of the SASL mechanisms (RFC 4422)
// that posthorn offers for SMTP AUTH (RFC 4954) and IMAP AUTHENTICATE:
// PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login) and SCRAM-SHA-256 with
// and without channel binding (RFC 5802, RFC 7677, tls-exporter RFC 9266).
//
// A Server is one authentication exchange. Its Next method has the method set
// of github.com/emersion/go-sasl's Server, so it plugs into go-smtp's
// AuthSession.Auth directly. The protocol layer base64-encodes challenges and
// decodes responses; this package sees raw bytes only.
//
// Checking passwords and looking up keys is the job of an Authenticator
// (implemented by the accounts service); this package has no store, config or
// logging.
//
// Wiring into go-smtp (the adapter lives in smtpserver):
//
//	func (s *session) Auth(mech string) (gosasl.Server, error) {
//		srv, err := sasl.NewServer(s.ctx, mech, sasl.Options{
//			Authenticator:  s.accounts,
//			ChannelBinding: sasl.ChannelBindingFromTLS(s.tlsState), // nil without TLS 1.3
//			FakeSecret:     s.fakeSecret,
//			OnSuccess:      func(id string) { s.identity = id },
//		})
//		return errorMapper{srv}, err
//	}
//
// go-smtp replies to any error that is not an *smtp.SMTPError with
// "454 4.7.0" and the error's text, so the adapter wraps Next and maps
// ErrAuthFailed, ErrAuthzID and ErrChannelBinding to 535 5.7.8, ErrMalformed
// to 501 5.5.2, and anything else to 454 4.7.0 without the text.
package sasl

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
)

// Mechanism names (RFC 4422 §3.1, IANA "SASL Mechanisms" registry).
const (
	Plain           = "PLAIN"
	Login           = "LOGIN"
	SCRAMSHA256     = "SCRAM-SHA-256"
	SCRAMSHA256Plus = "SCRAM-SHA-256-PLUS"
)

// Errors returned by Server.Next and NewServer. ErrMalformed, ErrAuthFailed,
// ErrAuthzID and ErrChannelBinding mean the client failed to authenticate
// (SMTP 535 5.7.8 / 501, IMAP NO); an error matching none of them comes from
// the Authenticator and is the server's problem (SMTP 454 4.7.0). Errors wrap
// their causes for the log; their text is not meant for the client.
var (
	// ErrUnsupported is returned by NewServer for an unknown mechanism name
	// or a mechanism the connection cannot support.
	ErrUnsupported = errors.New("sasl: unsupported mechanism")
	// ErrMalformed reports a client message that breaks the mechanism's
	// syntax or limits, or a message sent after the exchange ended.
	ErrMalformed = errors.New("sasl: malformed client message")
	// ErrAuthFailed reports wrong credentials. Authenticators return it for
	// a wrong password; Next returns it (wrapped) for every credential
	// failure, including an unknown user.
	ErrAuthFailed = errors.New("sasl: authentication failed")
	// ErrUnknownUser is returned by an Authenticator for a username that does
	// not exist. Next wraps it together with ErrAuthFailed, so the log can
	// tell the cases apart while the wire cannot.
	ErrUnknownUser = errors.New("sasl: unknown user")
	// ErrAuthzID reports an authorization identity other than the
	// authentication identity: proxy authorization is not supported.
	ErrAuthzID = errors.New("sasl: authorization identity not permitted")
	// ErrChannelBinding reports a SCRAM channel-binding failure: bindings
	// that differ (a man in the middle), a downgrade (RFC 5802 §6), or a
	// flag that does not fit the chosen mechanism.
	ErrChannelBinding = errors.New("sasl: channel binding failed")
)

// Limits on client input, so that no exchange costs more than a few KiB.
const (
	// MaxFieldLen bounds each of authzid, authcid and password.
	MaxFieldLen = 1024
	// maxSCRAMMessage bounds a SCRAM client message (a username of
	// MaxFieldLen may grow to 3× when ',' and '=' are escaped).
	maxSCRAMMessage = 4 * MaxFieldLen
)

// Server is one server-side SASL exchange; it has the method set of
// github.com/emersion/go-sasl's Server.
//
// Next is first called with the client's initial response, nil when the
// client sent none (a zero-length, non-nil slice is an empty initial
// response, "=" on the wire). It returns the next challenge, or done=true
// once the client is authenticated, or an error that ends the exchange.
// Calling Next after the exchange ended returns ErrMalformed. A Server is
// used by one goroutine at a time.
type Server interface {
	Next(response []byte) (challenge []byte, done bool, err error)
}

// SCRAMCredentials are the SCRAM-SHA-256 verifiers of one user
// (RFC 5802 §3): Salt and Iterations give SaltedPassword := Hi(password),
// StoredKey := H(HMAC(SaltedPassword, "Client Key")) and
// ServerKey := HMAC(SaltedPassword, "Server Key").
type SCRAMCredentials struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// usable reports whether c can verify a SCRAM-SHA-256 proof.
func (c SCRAMCredentials) usable() bool {
	return len(c.Salt) > 0 && c.Iterations > 0 && len(c.StoredKey) == sha256Size && len(c.ServerKey) == sha256Size
}

// Authenticator checks credentials; the accounts service implements it.
type Authenticator interface {
	// CheckPassword verifies a cleartext password (PLAIN, LOGIN) and returns
	// the canonical identity. username and password are valid UTF-8 of at
	// most MaxFieldLen bytes, as the client sent them (not SASLprep'd). It
	// returns ErrUnknownUser or ErrAuthFailed for bad credentials; any other
	// error is treated as a temporary failure.
	CheckPassword(ctx context.Context, username, password string) (identity string, err error)
	// SCRAMCredentials returns the stored SCRAM-SHA-256 keys of username
	// (already SASLprep'd, RFC 5802 §5.1). For a user that does not exist it
	// returns ErrUnknownUser: the mechanism then continues with fake keys so
	// that the exchange fails only at the proof, like a wrong password.
	SCRAMCredentials(ctx context.Context, username string) (identity string, c SCRAMCredentials, err error)
}

// Options configure a Server.
type Options struct {
	// Authenticator checks credentials. Required.
	Authenticator Authenticator
	// ChannelBinding is the connection's tls-exporter channel binding
	// (RFC 9266), from ChannelBindingFromTLS; nil without TLS 1.3. It must
	// be set exactly when SCRAM-SHA-256-PLUS was advertised (Mechanisms),
	// since it is what lets SCRAM detect a downgrade (RFC 5802 §6).
	ChannelBinding []byte
	// FakeSecret keys the fake SCRAM salts and keys of unknown users, so
	// that they are the same on every attempt and unpredictable. Required
	// for SCRAM; use at least 32 random bytes kept for the life of the data
	// directory (a secret that changes lets an attacker spot fake salts).
	FakeSecret []byte
	// FakeIterations is the iteration count shown for unknown users; it
	// should equal the one real accounts use. Zero means 4096 (RFC 7677 §4).
	FakeIterations int
	// OnSuccess, if set, is called exactly once, with the canonical identity,
	// when the exchange succeeds (just before Next returns done=true).
	OnSuccess func(identity string)
}

// NewServer starts an exchange of mechanism mech (matched case-insensitively).
// ctx is passed to the Authenticator. It returns ErrUnsupported for an
// unknown mechanism and for SCRAM-SHA-256-PLUS without o.ChannelBinding.
func NewServer(ctx context.Context, mech string, o Options) (Server, error) {
	if o.Authenticator == nil {
		return nil, errors.New("sasl: Options.Authenticator is nil")
	}
	switch m := strings.ToUpper(mech); m {
	case Plain:
		return &plainServer{ctx: ctx, opts: o}, nil
	case Login:
		return &loginServer{ctx: ctx, opts: o}, nil
	case SCRAMSHA256, SCRAMSHA256Plus:
		return newSCRAMServer(ctx, m == SCRAMSHA256Plus, o)
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupported, mech)
	}
}

// Mechanisms lists, in order of preference, the mechanisms to advertise on a
// connection. secure reports whether the connection is confidential (TLS,
// or loopback where the operator allows it): PLAIN and LOGIN send the
// password itself and are offered only then. channelBinding reports whether
// ChannelBindingFromTLS returned a value (TLS 1.3): SCRAM-SHA-256-PLUS is
// offered only then (RFC 9266 §3).
func Mechanisms(secure, channelBinding bool) []string {
	var ms []string
	if secure && channelBinding {
		ms = append(ms, SCRAMSHA256Plus)
	}
	ms = append(ms, SCRAMSHA256)
	if secure {
		ms = append(ms, Plain, Login)
	}
	return ms
}

// ChannelBindingFromTLS computes the tls-exporter channel binding of a
// connection (RFC 9266 §2): 32 bytes exported with the label
// "EXPORTER-Channel-Binding" and no context. It returns nil for a nil state,
// an incomplete handshake or a version before TLS 1.3: with TLS 1.2 the
// binding is only safe with the extended master secret (RFC 9266), and
// posthorn keeps SCRAM-SHA-256-PLUS to TLS 1.3.
func ChannelBindingFromTLS(cs *tls.ConnectionState) []byte {
	if cs == nil || !cs.HandshakeComplete || cs.Version < tls.VersionTLS13 {
		return nil
	}
	b, err := cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		return nil
	}
	return b
}

// credentialError turns an Authenticator error into the error Next returns:
// ErrUnknownUser is wrapped with ErrAuthFailed; others pass through.
func credentialError(err error) error {
	if errors.Is(err, ErrUnknownUser) && !errors.Is(err, ErrAuthFailed) {
		return fmt.Errorf("%w: %w", ErrAuthFailed, err)
	}
	return err
}

// errFinished is returned by Next after the exchange has ended.
var errFinished = fmt.Errorf("%w: exchange already finished", ErrMalformed)
