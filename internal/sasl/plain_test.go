package sasl

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestPlain(t *testing.T) {
	long := strings.Repeat("a", MaxFieldLen+1)
	backend := errors.New("database is down")
	tests := []struct {
		name       string
		ir         []byte   // initial response; nil for none
		responses  []string // later responses
		backendErr error
		wantErr    error // nil for success
		wantID     string
	}{
		{name: "ir", ir: []byte("\x00alice\x00" + alicePassword), wantID: "alice@example.org"},
		{name: "ir authzid=authcid", ir: []byte("alice\x00alice\x00" + alicePassword), wantID: "alice@example.org"},
		{name: "no ir", responses: []string{"\x00alice\x00" + alicePassword}, wantID: "alice@example.org"},
		{name: "case-insensitive user", ir: []byte("\x00ALICE\x00" + alicePassword), wantID: "alice@example.org"},
		{name: "wrong password", ir: []byte("\x00alice\x00wrong"), wantErr: ErrAuthFailed},
		{name: "unknown user", ir: []byte("\x00carol\x00pw"), wantErr: ErrAuthFailed},
		{name: "proxy authzid", ir: []byte("root\x00alice\x00" + alicePassword), wantErr: ErrAuthzID},
		{name: "empty ir", ir: []byte{}, wantErr: ErrMalformed},
		{name: "empty response", responses: []string{""}, wantErr: ErrMalformed},
		{name: "one NUL", ir: []byte("alice\x00" + alicePassword), wantErr: ErrMalformed},
		{name: "three NULs", ir: []byte("\x00alice\x00" + alicePassword + "\x00"), wantErr: ErrMalformed},
		{name: "no NUL", ir: []byte("alice"), wantErr: ErrMalformed},
		{name: "empty authcid", ir: []byte("\x00\x00" + alicePassword), wantErr: ErrMalformed},
		{name: "empty password", ir: []byte("\x00alice\x00"), wantErr: ErrMalformed},
		{name: "long authcid", ir: []byte("\x00" + long + "\x00pw"), wantErr: ErrMalformed},
		{name: "long password", ir: []byte("\x00alice\x00" + long), wantErr: ErrMalformed},
		{name: "long authzid", ir: []byte(long + "\x00alice\x00pw"), wantErr: ErrMalformed},
		{name: "not UTF-8", ir: []byte("\x00al\xffice\x00pw"), wantErr: ErrMalformed},
		{name: "backend error", ir: []byte("\x00alice\x00" + alicePassword), backendErr: backend, wantErr: backend},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			auth := newFakeAuth()
			auth.backendErr = tc.backendErr
			var rec successRecorder
			srv, err := NewServer(context.Background(), "plain", rec.options(auth, nil))
			if err != nil {
				t.Fatal(err)
			}
			_, err = drive(srv, tc.ir, func(ch []byte) ([]byte, error) {
				if len(ch) != 0 {
					t.Errorf("challenge %q, want empty", ch)
				}
				if len(tc.responses) == 0 {
					return nil, errors.New("no more responses")
				}
				r := tc.responses[0]
				tc.responses = tc.responses[1:]
				return []byte(r), nil
			})
			checkOutcome(t, err, tc.wantErr, &rec, tc.wantID)
			if _, _, err := srv.Next([]byte("\x00alice\x00" + alicePassword)); !errors.Is(err, ErrMalformed) {
				t.Errorf("Next after the end: %v, want ErrMalformed", err)
			}
			if len(rec.identities) > 1 {
				t.Errorf("OnSuccess called %d times", len(rec.identities))
			}
		})
	}
}

// TestPlainNoBackendCallOnBadSyntax checks that malformed or proxy requests
// do not reach the Authenticator.
func TestPlainNoBackendCallOnBadSyntax(t *testing.T) {
	for _, ir := range []string{"root\x00alice\x00pw", "\x00alice", "\x00\x00pw"} {
		auth := newFakeAuth()
		srv, _ := NewServer(context.Background(), Plain, Options{Authenticator: auth})
		if _, _, err := srv.Next([]byte(ir)); err == nil {
			t.Errorf("%q: success", ir)
		}
		if auth.calls != 0 {
			t.Errorf("%q: authenticator called", ir)
		}
	}
}

// checkOutcome compares an exchange's error and OnSuccess calls with the
// expectation.
func checkOutcome(t *testing.T, err, wantErr error, rec *successRecorder, wantID string) {
	t.Helper()
	if wantErr == nil {
		if err != nil {
			t.Fatalf("err = %v, want success", err)
		}
		if len(rec.identities) != 1 || rec.identities[0] != wantID {
			t.Fatalf("OnSuccess calls %q, want [%q]", rec.identities, wantID)
		}
		return
	}
	if !errors.Is(err, wantErr) {
		t.Fatalf("err = %v, want %v", err, wantErr)
	}
	if len(rec.identities) != 0 {
		t.Fatalf("OnSuccess called on failure: %q", rec.identities)
	}
}

func TestUnknownUserWrapsBoth(t *testing.T) {
	srv, _ := NewServer(context.Background(), Plain, Options{Authenticator: newFakeAuth()})
	_, _, err := srv.Next([]byte("\x00carol\x00pw"))
	if !errors.Is(err, ErrAuthFailed) || !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("err = %v, want ErrAuthFailed and ErrUnknownUser", err)
	}
}
