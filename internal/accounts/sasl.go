package accounts

import (
	"context"
	"errors"
	"fmt"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/sasl"
	"github.com/posthorn/posthorn/internal/store"
)

// SASLAuthenticator checks SASL logins (sasl.Authenticator) for one
// protocol ("smtp", "imap"). Usernames are account addresses; identities
// returned are the account address in its display form, which
// addr.ParseAddress reads back.
//
// PLAIN and LOGIN accept the account password and the app passwords whose
// scope includes Protocol. SCRAM-SHA-256 can verify only one set of keys
// per username, so it accepts the account password only; app passwords
// need PLAIN or LOGIN (over TLS).
type SASLAuthenticator struct {
	Service  *Service
	Protocol string
}

var _ sasl.Authenticator = SASLAuthenticator{}

// CheckPassword implements sasl.Authenticator.
func (a SASLAuthenticator) CheckPassword(ctx context.Context, username, password string) (string, error) {
	acc, err := a.Service.Authenticate(ctx, username, password, a.Protocol)
	if errors.Is(err, ErrAuthFailed) {
		return "", sasl.ErrAuthFailed
	} else if err != nil {
		return "", err
	}
	return acc.Address.String(), nil
}

// SCRAMCredentials implements sasl.Authenticator. Disabled and unknown
// accounts are reported as unknown users, so the exchange fails at the
// proof like a wrong password.
func (a SASLAuthenticator) SCRAMCredentials(ctx context.Context, username string) (string, sasl.SCRAMCredentials, error) {
	ad, err := addr.ParseAddress(username)
	if err != nil {
		return "", sasl.SCRAMCredentials{}, sasl.ErrUnknownUser
	}
	acc, err := a.Service.Store.Account(ctx, ad)
	if errors.Is(err, store.ErrNotFound) || err == nil && acc.Disabled {
		return "", sasl.SCRAMCredentials{}, sasl.ErrUnknownUser
	} else if err != nil {
		return "", sasl.SCRAMCredentials{}, fmt.Errorf("accounts: %w", err)
	}
	cred, err := a.Service.Store.Credentials(ctx, acc.ID)
	if err != nil {
		return "", sasl.SCRAMCredentials{}, fmt.Errorf("accounts: %w", err)
	}
	k := cred.SCRAM
	return acc.Address.String(), sasl.SCRAMCredentials{Salt: k.Salt, Iterations: k.Iterations, StoredKey: k.StoredKey, ServerKey: k.ServerKey}, nil
}
