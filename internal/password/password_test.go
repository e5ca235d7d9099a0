package password

import (
	"errors"
	"strings"
	"testing"
)

// cheap keeps the tests fast; the format and logic are the same.
var cheap = Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashAndVerify(t *testing.T) {
	h, err := New("pepper-0123456789abcdef", cheap)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := h.Hash("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=1024,t=1,p=1$") || strings.Contains(enc, "correct") {
		t.Errorf("encoded hash %q", enc)
	}
	again, _ := h.Hash("correct horse battery")
	if again == enc {
		t.Error("two hashes of one password are equal: salt not random")
	}
	if rehash, err := h.Verify("correct horse battery", enc); err != nil || rehash {
		t.Errorf("Verify right password: rehash=%v err=%v", rehash, err)
	}
	if _, err := h.Verify("correct horse batterx", enc); !errors.Is(err, ErrMismatch) {
		t.Errorf("Verify wrong password: %v", err)
	}
}

func TestPepperMatters(t *testing.T) {
	a, _ := New("pepper-aaaaaaaaaaaaaaaa", cheap)
	b, _ := New("pepper-bbbbbbbbbbbbbbbb", cheap)
	enc, _ := a.Hash("correct horse battery")
	if _, err := b.Verify("correct horse battery", enc); !errors.Is(err, ErrMismatch) {
		t.Errorf("a hash verified under another pepper: %v", err)
	}
}

func TestRaisedParametersAskForRehash(t *testing.T) {
	old, _ := New("pepper-0123456789abcdef", cheap)
	enc, _ := old.Hash("correct horse battery")
	stronger := cheap
	stronger.Time = 2
	cur, _ := New("pepper-0123456789abcdef", stronger)
	rehash, err := cur.Verify("correct horse battery", enc)
	if err != nil || !rehash {
		t.Errorf("old-parameter hash: rehash=%v err=%v, want true, nil", rehash, err)
	}
}

func TestShortPepperRefused(t *testing.T) {
	if _, err := New("short", cheap); err == nil || !strings.Contains(err.Error(), "openssl rand") {
		t.Errorf("got %v", err)
	}
}

func TestMalformedHashes(t *testing.T) {
	h, _ := New("pepper-0123456789abcdef", cheap)
	for _, enc := range []string{"", "plain", "$argon2i$v=19$m=1,t=1,p=1$aaaa$bbbb", "$argon2id$v=18$m=1,t=1,p=1$aaaa$bbbb", "$argon2id$v=19$m=x$aaaa$bbbb", "$argon2id$v=19$m=1,t=1,p=1$!!$bbbb"} {
		if _, err := h.Verify("x", enc); err == nil || errors.Is(err, ErrMismatch) {
			t.Errorf("Verify(%q) = %v, want a format error", enc, err)
		}
	}
}

func TestCheckStrength(t *testing.T) {
	for pw, want := range map[string]string{
		"short":                      "too short",
		"aaaaaaaaaaaaaaaa":           "too repetitive",
		"Password1234":               "most common",
		"alice-is-great-2026":        "email's name",
		strings.Repeat("ab3d5", 300): "too long",
	} {
		err := CheckStrength(pw, "alice@example.com")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckStrength(%.20q) = %v, want %q", pw, err, want)
		}
	}
	if err := CheckStrength("correct horse battery staple", "alice@example.com"); err != nil {
		t.Errorf("a good passphrase refused: %v", err)
	}
}
