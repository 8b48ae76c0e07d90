package accounts

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/xdg-go/stringprep"
	"golang.org/x/crypto/argon2"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
)

// Parameters of the password verifiers.
const (
	// SCRAMIterations is the PBKDF2 iteration count; RFC 7677 §4 asks for
	// at least 4096.
	SCRAMIterations = 4096
	scramSaltLen    = 16

	// argon2id parameters (RFC 9106 §4, second recommended option, with
	// less memory for small machines).
	argonTime    = 3
	argonMemory  = 64 * 1024 // KiB
	argonThreads = 2
	argonKeyLen  = 32

	// MaxPasswordLen bounds the work an attacker can make us do per attempt.
	MaxPasswordLen = 1024
)

// ErrBadPassword is returned for passwords that cannot be used.
var ErrBadPassword = errors.New("accounts: unusable password")

// NewCredentials derives every verifier of a password: argon2id for web
// login and SCRAM-SHA-256 keys for IMAP and SMTP.
func NewCredentials(password string) (store.Credentials, error) {
	keys, err := NewSCRAMKeys(password)
	if err != nil {
		return store.Credentials{}, err
	}
	return store.Credentials{PasswordHash: argon2Hash(password), SCRAM: keys}, nil
}

// NewSCRAMKeys derives SCRAM-SHA-256 keys (RFC 5802 §3) with a new salt.
func NewSCRAMKeys(password string) (store.SCRAMKeys, error) {
	salt := make([]byte, scramSaltLen)
	rand.Read(salt)
	return scramKeys(password, salt, SCRAMIterations)
}

// scramKeys computes StoredKey and ServerKey (RFC 5802 §3):
// SaltedPassword := Hi(Normalize(password), salt, i)
// ClientKey := HMAC(SaltedPassword, "Client Key"); StoredKey := H(ClientKey)
// ServerKey := HMAC(SaltedPassword, "Server Key").
func scramKeys(password string, salt []byte, iter int) (store.SCRAMKeys, error) {
	if password == "" || len(password) > MaxPasswordLen {
		return store.SCRAMKeys{}, fmt.Errorf("%w: length must be 1 to %d", ErrBadPassword, MaxPasswordLen)
	}
	prepped, err := stringprep.SASLprep.Prepare(password)
	if err != nil {
		return store.SCRAMKeys{}, fmt.Errorf("%w: %v", ErrBadPassword, err)
	}
	salted, err := pbkdf2.Key(sha256.New, prepped, salt, iter, sha256.Size)
	if err != nil {
		return store.SCRAMKeys{}, err
	}
	clientKey := hmacSHA256(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	return store.SCRAMKeys{
		Salt:       salt,
		Iterations: iter,
		StoredKey:  stored[:],
		ServerKey:  hmacSHA256(salted, "Server Key"),
	}, nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// VerifySCRAM reports whether password matches keys, by recomputing them
// (used for PLAIN and LOGIN, which send the password itself).
func VerifySCRAM(keys store.SCRAMKeys, password string) bool {
	if len(keys.StoredKey) == 0 || keys.Iterations <= 0 {
		return false
	}
	got, err := scramKeys(password, keys.Salt, keys.Iterations)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got.StoredKey, keys.StoredKey) == 1
}

// argon2Hash returns an argon2id hash in PHC string form.
func argon2Hash(password string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, enc.EncodeToString(salt), enc.EncodeToString(key))
}

// VerifyArgon2 reports whether password matches a PHC argon2id hash.
func VerifyArgon2(phc, password string) bool {
	if len(password) > MaxPasswordLen {
		return false
	}
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	var mem uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil {
		return false
	}
	// Refuse parameters that would let a corrupted record exhaust memory.
	if mem == 0 || mem > 1<<20 || t == 0 || t > 16 || p == 0 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 64 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, mem, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// passwordAlphabet omits letters and digits people confuse (0/o, 1/l/i).
const passwordAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// GeneratePassword returns a random password of 4 groups of 5 characters,
// about 99 bits of entropy, easy to type on a phone. It always passes
// CheckPassword (the rare draw that does not is drawn again).
func GeneratePassword() string {
	for {
		if p := generatePassword(); CheckPassword(p, addr.Address{}) == nil {
			return p
		}
	}
}

func generatePassword() string {
	var b strings.Builder
	n := big.NewInt(int64(len(passwordAlphabet)))
	for i := 0; i < 20; i++ {
		if i > 0 && i%5 == 0 {
			b.WriteByte('-')
		}
		v, err := rand.Int(rand.Reader, n)
		if err != nil {
			panic(err) // crypto/rand never fails on Linux (Go 1.24+)
		}
		b.WriteByte(passwordAlphabet[v.Int64()])
	}
	return b.String()
}
