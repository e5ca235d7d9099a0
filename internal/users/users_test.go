package users

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestNormaliseEmail(t *testing.T) {
	for in, want := range map[string]string{" Ada@Example.COM ": "ada@example.com", "a.b+c@x.io": "a.b+c@x.io"} {
		if got, err := NormaliseEmail(in); err != nil || got != want {
			t.Errorf("NormaliseEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "nope", "Ada <ada@example.com>", "a@localhost", "@x.io", "a@@x.io"} {
		if _, err := NormaliseEmail(bad); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("NormaliseEmail(%q) = %v, want a one-line error", bad, err)
		}
	}
}

func TestCreateAdminIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s := NewStore(pgtest.Pool(t))
	created, err := s.CreateAdmin(ctx, "ada@example.com", "hash-1")
	if err != nil || !created {
		t.Fatalf("first create: %v %v", created, err)
	}
	created, err = s.CreateAdmin(ctx, "ada@example.com", "hash-2")
	if err != nil || created {
		t.Fatalf("second create: created=%v err=%v, want false, nil", created, err)
	}
	u, err := s.ByEmail(ctx, "ada@example.com")
	if err != nil || u.PasswordHash != "hash-1" || !u.IsAdmin {
		t.Errorf("after second create: %+v %v; the first hash must stay", u, err)
	}
	if err := s.SetPassword(ctx, "ada@example.com", "hash-3"); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.ByEmail(ctx, "ada@example.com"); u.PasswordHash != "hash-3" {
		t.Errorf("SetPassword did not change the hash")
	}
	if err := s.SetPassword(ctx, "nobody@example.com", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetPassword of unknown email: %v", err)
	}
	if _, err := s.ByEmail(ctx, "nobody@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ByEmail unknown: %v", err)
	}
}
