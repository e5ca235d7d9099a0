// Package password hashes and checks user passwords: argon2id over an
// HMAC of the password with a server-side pepper, in PHC string format so the
// cost parameters travel with each hash and can be raised later.
package password

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// Default follows RFC 9106's second recommended option (64 MiB, 3 passes),
// with 2 lanes for small servers.
var Default = Params{Memory: 64 * 1024, Time: 3, Threads: 2, SaltLen: 16, KeyLen: 32}

// ErrMismatch is returned by Verify when the password is wrong.
var ErrMismatch = errors.New("password does not match")

// Hasher hashes with one pepper and one set of parameters.
type Hasher struct {
	pepper []byte
	params Params
}

// New returns a Hasher. The pepper (PASSWORD_PEPPER) lives in the service's
// environment file, not the database, so a stolen database alone can't be
// brute-forced offline.
func New(pepper string, p Params) (*Hasher, error) {
	if len(pepper) < 16 {
		return nil, errors.New("PASSWORD_PEPPER must be at least 16 characters: generate one with `openssl rand -base64 32` and put it in the service's env file")
	}
	return &Hasher{pepper: []byte(pepper), params: p}, nil
}

func (h *Hasher) peppered(pw string) []byte {
	m := hmac.New(sha256.New, h.pepper)
	m.Write([]byte(pw))
	return m.Sum(nil)
}

// Key derives a server key for purpose (e.g. "csrf") from the pepper, so
// signed tokens need no second secret; a new pepper invalidates them too.
func (h *Hasher) Key(purpose string) []byte {
	m := hmac.New(sha256.New, h.pepper)
	m.Write([]byte("slipway key\x00" + purpose))
	return m.Sum(nil)
}

// Hash returns the PHC-encoded argon2id hash of pw.
func (h *Hasher) Hash(pw string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	p := h.params
	key := argon2.IDKey(h.peppered(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify checks pw against encoded in constant time. needsRehash is true
// when the hash was made with other parameters than the Hasher's: the caller
// should store a fresh Hash(pw) after a successful login.
func (h *Hasher) Verify(pw, encoded string) (needsRehash bool, err error) {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey(h.peppered(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return false, ErrMismatch
	}
	cur := h.params
	return p.Memory != cur.Memory || p.Time != cur.Time || p.Threads != cur.Threads || uint32(len(key)) != cur.KeyLen || uint32(len(salt)) != cur.SaltLen, nil
}

func decode(encoded string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("not an argon2id hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, fmt.Errorf("unsupported argon2 version %q", parts[2])
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, fmt.Errorf("bad argon2 parameters %q", parts[3])
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, errors.New("bad argon2 salt")
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) == 0 {
		return p, nil, nil, errors.New("bad argon2 key")
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// common holds passwords that pass the length rule yet top breach lists.
var common = map[string]bool{
	"password1234": true, "123456789012": true, "qwertyuiop12": true, "passwordpassword": true,
	"administrator": true, "letmeinletmein": true, "iloveyou1234": true, "changeme1234": true,
	"qwerty123456": true, "1q2w3e4r5t6y": true, "welcome12345": true, "adminadmin123": true,
}

// MinLength is the shortest password accepted (NIST SP 800-63B asks for at
// least 8; an admin account deserves more).
const MinLength = 12

// CheckStrength refuses weak passwords with the reason.
func CheckStrength(pw, email string) error {
	n := len([]rune(pw))
	switch {
	case n < MinLength:
		return fmt.Errorf("password too short: %d characters, use at least %d (a passphrase of a few words works well)", n, MinLength)
	case n > 1024:
		return errors.New("password too long: use at most 1024 characters")
	case distinct(pw) < 5:
		return errors.New("password too repetitive: use at least 5 different characters")
	case common[strings.ToLower(pw)]:
		return errors.New("password is on the list of most common passwords: choose another")
	}
	if local, _, ok := strings.Cut(strings.ToLower(email), "@"); ok && len(local) >= 4 && strings.Contains(strings.ToLower(pw), local) {
		return errors.New("password contains the email's name: choose one that doesn't")
	}
	return nil
}

func distinct(s string) int {
	seen := map[rune]bool{}
	for _, r := range s {
		seen[r] = true
	}
	return len(seen)
}
