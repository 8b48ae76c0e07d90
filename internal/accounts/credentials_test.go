package accounts

import (
	"bytes"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

// TestSCRAMKeysMatchIndependentImplementation checks our key derivation
// against xdg-go/scram's, which the SMTP and IMAP servers use on the wire.
func TestSCRAMKeysMatchIndependentImplementation(t *testing.T) {
	for _, pw := range []string{"pencil", "pässwörd", "I\u00ADX", "with space"} {
		keys, err := NewSCRAMKeys(pw)
		if err != nil {
			t.Fatal(err)
		}
		c, err := scram.SHA256.NewClient("user", pw, "")
		if err != nil {
			t.Fatal(err)
		}
		want, err := c.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(keys.Salt), Iters: keys.Iterations})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(want.StoredKey, keys.StoredKey) || !bytes.Equal(want.ServerKey, keys.ServerKey) {
			t.Errorf("%q: keys differ from xdg-go/scram", pw)
		}
		if keys.Iterations < 4096 || len(keys.Salt) < 16 {
			t.Errorf("weak parameters: %d iterations, %d-byte salt", keys.Iterations, len(keys.Salt))
		}
	}
}

func TestVerify(t *testing.T) {
	cred, err := NewCredentials("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(cred.PasswordHash, "correct horse") {
		t.Fatal("hash contains the password")
	}
	tests := []struct {
		pw   string
		want bool
	}{
		{"correct horse", true},
		{"correct horse ", false},
		{"Correct horse", false},
		{"", false},
		{strings.Repeat("x", MaxPasswordLen+1), false},
	}
	for _, tc := range tests {
		if got := VerifySCRAM(cred.SCRAM, tc.pw); got != tc.want {
			t.Errorf("VerifySCRAM(%q) = %v", tc.pw, got)
		}
		if got := VerifyArgon2(cred.PasswordHash, tc.pw); got != tc.want {
			t.Errorf("VerifyArgon2(%q) = %v", tc.pw, got)
		}
	}
	// SASLprep (RFC 4013): U+00AD is mapped to nothing, so both spellings match.
	c2, _ := NewCredentials("I\u00ADX")
	if !VerifySCRAM(c2.SCRAM, "IX") {
		t.Error("SASLprep mapping not applied")
	}
}

func TestVerifyArgon2Rejects(t *testing.T) {
	for _, phc := range []string{
		"",
		"$argon2i$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA",
		"$argon2id$v=19$m=99999999,t=3,p=2$c2FsdA$aGFzaA", // absurd memory
		"$argon2id$v=19$m=65536,t=3,p=2$!!$aGFzaA",
		"$argon2id$v=18$m=65536,t=3,p=2$c2FsdA$aGFzaA",
	} {
		if VerifyArgon2(phc, "x") {
			t.Errorf("VerifyArgon2(%q) accepted", phc)
		}
	}
	if VerifySCRAM(dummyKeys, "anything") {
		t.Error("dummy keys verified a password")
	}
}

func TestBadPasswords(t *testing.T) {
	for _, pw := range []string{"", "a\u0007b", strings.Repeat("y", MaxPasswordLen+1)} {
		if _, err := NewCredentials(pw); err == nil {
			t.Errorf("NewCredentials(%q) accepted", pw)
		}
	}
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		p := GeneratePassword()
		if len(p) != 23 || strings.Count(p, "-") != 3 {
			t.Fatalf("unexpected shape %q", p)
		}
		for _, c := range strings.ReplaceAll(p, "-", "") {
			if !strings.ContainsRune(passwordAlphabet, c) {
				t.Fatalf("character %q outside the alphabet", c)
			}
		}
		if seen[p] {
			t.Fatalf("repeated password %q", p)
		}
		seen[p] = true
	}
}
