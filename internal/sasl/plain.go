package sasl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"unicode/utf8"
)

// plainServer implements PLAIN (RFC 4616).
type plainServer struct {
	ctx      context.Context
	opts     Options
	asked    bool // the empty challenge has been sent
	finished bool
}

// Next implements Server.
func (s *plainServer) Next(response []byte) ([]byte, bool, error) {
	if s.finished {
		return nil, false, errFinished
	}
	// RFC 4616 §2: without an initial response the server sends an empty
	// challenge and the client answers with the message.
	if response == nil && !s.asked {
		s.asked = true
		return []byte{}, false, nil
	}
	s.finished = true
	authzid, authcid, passwd, err := parsePlain(response)
	if err != nil {
		return nil, false, err
	}
	// RFC 4616 §2: an authzid equal to the authcid is the same as none; any
	// other would be proxy authorization, which we do not support.
	if authzid != "" && authzid != authcid {
		return nil, false, ErrAuthzID
	}
	return checkPassword(s.ctx, s.opts, authcid, passwd)
}

// parsePlain splits message = [authzid] UTF8NUL authcid UTF8NUL passwd
// (RFC 4616 §2) and enforces its rules and our limits.
func parsePlain(msg []byte) (authzid, authcid, passwd string, err error) {
	if len(msg) > 3*MaxFieldLen+2 {
		return "", "", "", fmt.Errorf("%w: PLAIN message too long", ErrMalformed)
	}
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return "", "", "", fmt.Errorf("%w: PLAIN message needs exactly 2 NULs, has %d", ErrMalformed, len(parts)-1)
	}
	for i, name := range []string{"authzid", "authcid", "password"} {
		if err := checkField(name, parts[i], i > 0); err != nil {
			return "", "", "", err
		}
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), nil
}

// checkField checks one cleartext field: UTF-8 (RFC 4616 §2), no NUL, at
// most MaxFieldLen bytes, and non-empty if required.
func checkField(name string, v []byte, required bool) error {
	switch {
	case required && len(v) == 0:
		return fmt.Errorf("%w: empty %s", ErrMalformed, name)
	case len(v) > MaxFieldLen:
		return fmt.Errorf("%w: %s longer than %d bytes", ErrMalformed, name, MaxFieldLen)
	case bytes.IndexByte(v, 0) >= 0:
		return fmt.Errorf("%w: NUL in %s", ErrMalformed, name)
	case !utf8.Valid(v):
		return fmt.Errorf("%w: %s is not UTF-8", ErrMalformed, name)
	}
	return nil
}

// checkPassword asks the Authenticator and finishes a cleartext exchange.
func checkPassword(ctx context.Context, o Options, username, password string) ([]byte, bool, error) {
	identity, err := o.Authenticator.CheckPassword(ctx, username, password)
	if err != nil {
		return nil, false, credentialError(err)
	}
	if identity == "" {
		return nil, false, errors.New("sasl: authenticator returned an empty identity")
	}
	if o.OnSuccess != nil {
		o.OnSuccess(identity)
	}
	return nil, true, nil
}
