package accounts

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/posthorn/posthorn/internal/addr"
)

// The password policy (docs/operations.md, "Passwords"). A password a
// person chooses must
//   - be at least MinPasswordLen characters long, and
//   - keep at least MinPasswordStrength "effective" characters once the
//     predictable parts are discounted: a character repeating the one
//     before it, or continuing a run of the alphabet, of the digits or of
//     a keyboard row (abcd, 4321, qwerty), counts for nothing; a common
//     password word (commonWords, matched after undoing l33t spelling:
//     P4ssw0rd is password) or the account's own address counts as one
//     character.
//
// It is an estimate in the spirit of NIST SP 800-63B §3.1.1.2 (length,
// a blocklist of common and context-specific passwords), with a small
// built-in list instead of a big one. Generated passwords always pass.
const (
	MinPasswordLen      = 12
	MinPasswordStrength = 8
)

// ErrWeakPassword is returned for a password the policy refuses; the
// message says why.
var ErrWeakPassword = errors.New("accounts: weak password")

// commonWords are the bases of the most used passwords (the words the
// published top lists are made of), lower case, l33t spelling undone.
var commonWords = []string{
	"password", "passwort", "passe", "pass", "secret", "letmein", "welcome", "iloveyou", "admin",
	"administrator", "root", "login", "changeme", "default", "qwerty", "azerty", "qwertz",
	"monkey", "dragon", "master", "shadow", "sunshine", "princess", "football", "baseball",
	"soccer", "superman", "batman", "trustno", "hello", "love", "test", "guest", "user",
	"mail", "email", "posthorn", "abc", "xyz", "god", "jesus", "michael", "charlie",
	"summer", "winter", "spring", "autumn", "freedom", "whatever", "starwars", "pokemon",
	"computer", "internet", "ninja", "mustang", "access", "flower", "cookie", "hunter",
}

// keyboardRows are the runs "continuing a row" is checked against.
var keyboardRows = []string{
	"abcdefghijklmnopqrstuvwxyz", "01234567890",
	"qwertyuiop", "asdfghjkl", "zxcvbnm", "azertyuiop", "qsdfghjklm", "wxcvbn", "qwertzuiop", "yxcvbnm",
	"1qaz", "2wsx", "3edc", "4rfv", "5tgb", "6yhn", "7ujm", "8ik", "9ol", "0p",
}

// CheckPassword applies the password policy to a password a person chose
// for account (zero Address: not known). The error wraps
// ErrWeakPassword and says what is wrong and what to do.
func CheckPassword(password string, account addr.Address) error {
	if n := utf8.RuneCountInString(password); n < MinPasswordLen {
		return fmt.Errorf("%w: too short (%d characters; at least %d are needed)", ErrWeakPassword, n, MinPasswordLen)
	}
	lower := strings.ToLower(password)
	norm := unleet(lower)
	var own []string
	if !account.IsZero() {
		own = append(own, strings.ToLower(account.String()), strings.ToLower(string(account.Localpart)))
		if strings.Contains(lower, own[0]) || lower == own[1] {
			return fmt.Errorf("%w: it contains the account's address", ErrWeakPassword)
		}
	}
	n, words := strength(lower, norm, own)
	if n >= MinPasswordStrength {
		return nil
	}
	if words > 0 {
		return fmt.Errorf("%w: it is made of common password words (like \"password\" or \"secret\") or the account's name with few changes", ErrWeakPassword)
	}
	return fmt.Errorf("%w: too predictable (repeated characters or runs like 1234, abcd, qwerty)", ErrWeakPassword)
}

// strength counts the effective characters of a lower-cased password and
// the common words found in it. Words are looked for in norm (lower with
// l33t spelling undone, byte for byte the same length), runs in lower.
func strength(lower, norm string, own []string) (n, words int) {
	var prev rune = -1
	for i := 0; i < len(lower); {
		if w := longestWordPrefix(norm[i:], own); w > 0 {
			i += w
			n++
			words++
			prev = -1
			continue
		}
		r, size := utf8.DecodeRuneInString(lower[i:])
		i += size
		if prev == -1 || !(r == prev || continuesRun(prev, r)) {
			n++
		}
		prev = r
	}
	return n, words
}

func longestWordPrefix(s string, own []string) int {
	best := 0
	for _, list := range [][]string{commonWords, own} {
		for _, w := range list {
			if len(w) > best && len(w) >= 3 && strings.HasPrefix(s, w) {
				best = len(w)
			}
		}
	}
	return best
}

// continuesRun reports whether b follows a (either way) in a keyboard row
// or the alphabet.
func continuesRun(a, b rune) bool {
	for _, row := range keyboardRows {
		i := strings.IndexRune(row, a)
		if i < 0 {
			continue
		}
		if i+1 < len(row) && rune(row[i+1]) == b || i > 0 && rune(row[i-1]) == b {
			return true
		}
	}
	return false
}

// unleet undoes the usual digit and symbol spellings of letters.
func unleet(s string) string {
	return strings.NewReplacer("0", "o", "1", "i", "3", "e", "4", "a", "5", "s", "7", "t", "@", "a", "$", "s", "!", "i").Replace(s)
}
