package accounts

import (
	"errors"
	"testing"

	"github.com/posthorn/posthorn/internal/addr"
)

func TestCheckPassword(t *testing.T) {
	bob := addr.MustParseAddress("bob@example.com")
	for _, tc := range []struct {
		pw string
		ok bool
	}{
		{"secret", false},
		{"posthorn", false},
		{"elevenchars", false},
		{"password1234", false},
		{"P4ssw0rd2024!", false},
		{"Secret-Secret-1", false},
		{"letmeinletmein", false},
		{"aaaaaaaaaaaaaaaa", false},
		{"123456789012", false},
		{"098765432109", false},
		{"abcdefghijklmnop", false},
		{"qwertyuiop123", false},
		{"1qaz2wsx3edc4rfv", false},
		{"bob@example.com!", false},
		{"bob-Secret-pw-1", true},
		{"alice-pw-1234", true},
		{"mellow-Harbor-71-tulip", true},
		{"correct horse battery staple", true},
		{"jürgen-pw-123", true},
		{"Kx9#mQ2$vL7p", true},
	} {
		err := CheckPassword(tc.pw, bob)
		if tc.ok && err != nil {
			t.Errorf("CheckPassword(%q) = %v, want accepted", tc.pw, err)
		}
		if !tc.ok && !errors.Is(err, ErrWeakPassword) {
			t.Errorf("CheckPassword(%q) = %v, want ErrWeakPassword", tc.pw, err)
		}
	}
}

// TestGeneratedPasswordsPass checks a sample of generated passwords
// against the policy they must always pass.
func TestGeneratedPasswordsPass(t *testing.T) {
	for range 2000 {
		if p := generatePassword(); CheckPassword(p, addr.Address{}) != nil {
			// GeneratePassword draws again; count how often that is needed.
			t.Logf("draw refused: %s", p)
		}
		if p := GeneratePassword(); CheckPassword(p, addr.Address{}) != nil {
			t.Fatalf("GeneratePassword returned %q, refused by the policy", p)
		}
	}
}
