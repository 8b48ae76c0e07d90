package sasl

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestLogin(t *testing.T) {
	long := strings.Repeat("a", MaxFieldLen+1)
	tests := []struct {
		name      string
		ir        []byte
		responses []string
		wantErr   error
		wantID    string
		wantChals int
	}{
		{name: "two steps", responses: []string{"alice", alicePassword}, wantID: "alice@example.org", wantChals: 2},
		{name: "username as ir", ir: []byte("alice"), responses: []string{alicePassword}, wantID: "alice@example.org", wantChals: 1},
		{name: "empty ir", ir: []byte{}, responses: []string{"alice", alicePassword}, wantID: "alice@example.org", wantChals: 2},
		{name: "wrong password", responses: []string{"alice", "nope"}, wantErr: ErrAuthFailed, wantChals: 2},
		{name: "unknown user", responses: []string{"carol", "pw"}, wantErr: ErrUnknownUser, wantChals: 2},
		{name: "empty username", responses: []string{""}, wantErr: ErrMalformed, wantChals: 1},
		{name: "empty password", responses: []string{"alice", ""}, wantErr: ErrMalformed, wantChals: 2},
		{name: "NUL in username", responses: []string{"al\x00ice"}, wantErr: ErrMalformed, wantChals: 1},
		{name: "NUL in password", responses: []string{"alice", "p\x00w"}, wantErr: ErrMalformed, wantChals: 2},
		{name: "long username", ir: []byte(long), wantErr: ErrMalformed},
		{name: "long password", responses: []string{"alice", long}, wantErr: ErrMalformed, wantChals: 2},
		{name: "not UTF-8", responses: []string{"alice", "\xff\xfe"}, wantErr: ErrMalformed, wantChals: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rec successRecorder
			srv, err := NewServer(context.Background(), Login, rec.options(newFakeAuth(), nil))
			if err != nil {
				t.Fatal(err)
			}
			var prompts []string
			n, err := drive(srv, tc.ir, func(ch []byte) ([]byte, error) {
				prompts = append(prompts, string(ch))
				if len(tc.responses) == 0 {
					return nil, errors.New("no more responses")
				}
				r := tc.responses[0]
				tc.responses = tc.responses[1:]
				return []byte(r), nil
			})
			checkOutcome(t, err, tc.wantErr, &rec, tc.wantID)
			if n != tc.wantChals {
				t.Errorf("%d challenges, want %d", n, tc.wantChals)
			}
			want := []string{"Username:", "Password:"}
			if len(tc.ir) > 0 {
				want = want[1:]
			}
			for i, p := range prompts {
				if p != want[i] {
					t.Errorf("challenge %d = %q, want %q", i, p, want[i])
				}
			}
			if _, _, err := srv.Next([]byte("x")); !errors.Is(err, ErrMalformed) {
				t.Errorf("Next after the end: %v, want ErrMalformed", err)
			}
		})
	}
}

func TestLoginChallengesAreRaw(t *testing.T) {
	srv, _ := NewServer(context.Background(), Login, Options{Authenticator: newFakeAuth()})
	ch, done, err := srv.Next(nil)
	if err != nil || done || !bytes.Equal(ch, []byte("Username:")) {
		t.Fatalf("Next(nil) = %q, %v, %v", ch, done, err)
	}
}
