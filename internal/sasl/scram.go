package sasl

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/xdg-go/scram"
	"github.com/xdg-go/stringprep"
)

const (
	sha256Size = sha256.Size
	// defaultIterations is RFC 7677 §4's minimum, also accounts' default.
	defaultIterations = 4096
	fakeSaltLen       = 16
)

// errNoKeys is the cause logged when an existing user has no usable SCRAM
// keys (for example an account created before they were stored).
var errNoKeys = errors.New("sasl: user has no usable SCRAM-SHA-256 keys")

// scramState is where a SCRAM exchange stands.
type scramState int

const (
	scramClientFirst scramState = iota // waiting for client-first-message
	scramClientFinal                   // server-first sent; waiting for client-final-message
	scramAck                           // server-final sent; waiting for the empty response
	scramFinished
)

// scramServer implements SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802,
// RFC 7677) on top of github.com/xdg-go/scram's server conversation, which
// parses the messages, checks the channel-binding flag and the proof.
type scramServer struct {
	ctx   context.Context
	opts  Options
	plus  bool
	conv  *scram.ServerConversation
	state scramState
	asked bool // an empty challenge was sent for a missing initial response

	// Set by lookup during the client-first step.
	username string // SASLprep'd
	identity string
	fakeWhy  error // why fake keys are used (nil: real keys)
	lookErr  error // an error to report instead of xdg-go's
}

func newSCRAMServer(ctx context.Context, plus bool, o Options) (*scramServer, error) {
	if plus && len(o.ChannelBinding) == 0 {
		return nil, fmt.Errorf("%w: %s needs a tls-exporter channel binding", ErrUnsupported, SCRAMSHA256Plus)
	}
	if len(o.FakeSecret) == 0 {
		return nil, errors.New("sasl: SCRAM needs Options.FakeSecret")
	}
	s := &scramServer{ctx: ctx, opts: o, plus: plus}
	srv, err := scram.SHA256.NewServer(s.lookup)
	if err != nil {
		return nil, err
	}
	// RFC 5802 §6: a binding means PLUS was advertised, so a "y" flag is a
	// downgrade (xdg-go rejects it), and -PLUS itself demands "p".
	cb := scram.ChannelBinding{Type: scram.ChannelBindingTLSExporter, Data: o.ChannelBinding}
	switch {
	case plus:
		s.conv = srv.NewConversationWithChannelBindingRequired(cb)
	case len(o.ChannelBinding) > 0:
		s.conv = srv.NewConversationWithChannelBinding(cb)
	default:
		s.conv = srv.NewConversation()
	}
	return s, nil
}

// Next implements Server.
//
// The server-final-message ("v=" ServerSignature, RFC 5802 §3) is returned
// as a challenge with done=false; done=true follows on the client's empty
// response. SMTP's 235 reply carries no SASL data (RFC 4954 §4), and
// go-smtp's handleAuth drops a challenge returned with done=true, writing
// 235 at once, so the client would never see the ServerSignature. RFC 4422
// §3.6 has protocols without "additional data with success" send it as a
// challenge ("334 dj0uLi4=" in SMTP) that the client answers with an empty
// response. IMAP AUTHENTICATE uses the same form ("+ dj0uLi4="), which
// clients handle too.
func (s *scramServer) Next(response []byte) ([]byte, bool, error) {
	switch s.state {
	case scramClientFirst:
		// RFC 5802 §5: the client speaks first; without an initial response
		// the server sends an empty challenge (RFC 4422 §3.3).
		if response == nil && !s.asked {
			s.asked = true
			return []byte{}, false, nil
		}
		return s.clientFirst(response)
	case scramClientFinal:
		return s.clientFinal(response)
	case scramAck:
		s.state = scramFinished
		if len(response) != 0 {
			return nil, false, fmt.Errorf("%w: non-empty response to server-final-message", ErrMalformed)
		}
		if s.opts.OnSuccess != nil {
			s.opts.OnSuccess(s.identity)
		}
		return nil, true, nil
	default:
		return nil, false, errFinished
	}
}

// clientFirst handles client-first-message and returns server-first-message.
func (s *scramServer) clientFirst(msg []byte) ([]byte, bool, error) {
	s.state = scramFinished // until it succeeds
	if err := checkSCRAMMessage(msg); err != nil {
		return nil, false, err
	}
	// RFC 5802 §6: "p" is only for the -PLUS mechanism.
	if !s.plus && len(msg) > 0 && msg[0] == 'p' {
		return nil, false, fmt.Errorf("%w: channel binding requested with %s", ErrChannelBinding, SCRAMSHA256)
	}
	out, err := s.conv.Step(string(msg))
	switch {
	case s.lookErr != nil:
		return nil, false, s.lookErr
	case err != nil:
		switch out {
		case scram.ErrServerDoesSupportChannelBinding, scram.ErrChannelBindingNotSupported,
			scram.ErrUnsupportedChannelBindingType:
			return nil, false, fmt.Errorf("%w: %w", ErrChannelBinding, err)
		}
		return nil, false, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	// RFC 5802 §5.1 "a": an authzid other than the username would be proxy
	// authorization, which we do not support.
	if a := s.conv.AuthzID(); a != "" {
		prepped, err := stringprep.SASLprep.Prepare(a)
		if err != nil || prepped != s.username {
			return nil, false, ErrAuthzID
		}
	}
	s.state = scramClientFinal
	return []byte(out), false, nil
}

// clientFinal handles client-final-message and returns server-final-message.
func (s *scramServer) clientFinal(msg []byte) ([]byte, bool, error) {
	s.state = scramFinished // until it succeeds
	if err := checkSCRAMMessage(msg); err != nil {
		return nil, false, err
	}
	out, err := s.conv.Step(string(msg))
	if err != nil {
		switch out {
		case scram.ErrInvalidProof:
			return nil, false, s.authFailed(err)
		case scram.ErrChannelBindingsDontMatch:
			return nil, false, fmt.Errorf("%w: %w", ErrChannelBinding, err)
		}
		return nil, false, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if s.fakeWhy != nil || !s.conv.Valid() {
		// Unreachable without a preimage of a fake StoredKey; kept so that
		// fake keys can never authenticate.
		return nil, false, s.authFailed(errors.New("proof accepted for fake keys"))
	}
	s.state = scramAck
	return []byte(out), false, nil
}

// authFailed is the error for a wrong proof, naming the unknown user or
// missing keys for the log when fake keys were used.
func (s *scramServer) authFailed(cause error) error {
	if s.fakeWhy != nil {
		return fmt.Errorf("%w: %w", ErrAuthFailed, s.fakeWhy)
	}
	return fmt.Errorf("%w: %w", ErrAuthFailed, cause)
}

// checkSCRAMMessage applies our limits to a SCRAM client message, which is
// UTF-8 text (RFC 5802 §7).
func checkSCRAMMessage(msg []byte) error {
	switch {
	case len(msg) == 0:
		return fmt.Errorf("%w: empty SCRAM message", ErrMalformed)
	case len(msg) > maxSCRAMMessage:
		return fmt.Errorf("%w: SCRAM message longer than %d bytes", ErrMalformed, maxSCRAMMessage)
	case !utf8.Valid(msg):
		return fmt.Errorf("%w: SCRAM message is not UTF-8", ErrMalformed)
	}
	return nil
}

// lookup is xdg-go's CredentialLookup: it SASLpreps the username
// (RFC 5802 §5.1), asks the Authenticator, and substitutes fake keys for an
// unknown user so that the exchange goes on and fails at the proof.
func (s *scramServer) lookup(username string) (scram.StoredCredentials, error) {
	if username == "" || len(username) > MaxFieldLen {
		s.lookErr = fmt.Errorf("%w: username empty or longer than %d bytes", ErrMalformed, MaxFieldLen)
		return scram.StoredCredentials{}, s.lookErr
	}
	prepped, err := stringprep.SASLprep.Prepare(username)
	if err != nil || prepped == "" {
		s.lookErr = fmt.Errorf("%w: username fails SASLprep", ErrMalformed)
		return scram.StoredCredentials{}, s.lookErr
	}
	s.username = prepped
	identity, c, err := s.opts.Authenticator.SCRAMCredentials(s.ctx, prepped)
	switch {
	case errors.Is(err, ErrUnknownUser):
		s.fakeWhy = err
	case err != nil:
		s.lookErr = err
		return scram.StoredCredentials{}, err
	case identity == "":
		s.lookErr = errors.New("sasl: authenticator returned an empty identity")
		return scram.StoredCredentials{}, s.lookErr
	case !c.usable():
		s.fakeWhy = errNoKeys
	}
	if s.fakeWhy != nil {
		c = s.fakeCredentials(prepped)
	}
	s.identity = identity
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(c.Salt), Iters: c.Iterations},
		StoredKey:  c.StoredKey,
		ServerKey:  c.ServerKey,
	}, nil
}

// fakeCredentials derives keys for a user that does not exist, from
// FakeSecret and the username, so that repeated attempts see the same salt,
// like a real user's. The username is lowercased since real lookups
// usually ignore case.
func (s *scramServer) fakeCredentials(username string) SCRAMCredentials {
	key := strings.ToLower(username)
	mac := func(label string) []byte {
		m := hmac.New(sha256.New, s.opts.FakeSecret)
		m.Write([]byte("posthorn sasl fake " + label + "\x00" + key))
		return m.Sum(nil)
	}
	iter := s.opts.FakeIterations
	if iter <= 0 {
		iter = defaultIterations
	}
	return SCRAMCredentials{
		Salt:       mac("salt")[:fakeSaltLen],
		Iterations: iter,
		StoredKey:  mac("stored key"),
		ServerKey:  mac("server key"),
	}
}
