package envfile

import (
	"strings"
	"testing"
)

func TestBadInputIsRefusedInOneLineNamingTheFix(t *testing.T) {
	for _, tc := range []struct {
		ch    Change
		force bool
		want  string
	}{
		{Change{Key: "password_pepper", Value: "x"}, true, "not a setting name"},
		{Change{Key: "1ABC", Value: "x"}, true, "not a setting name"},
		{Change{Key: "SLIPWAY_RELEASE", Value: "x"}, true, "set by systemd or the unit"},
		{Change{Key: "PASWORD_PEPPER", Value: "0123456789abcdefgh"}, false, "add -force"},
		{Change{Key: "PASSWORD_PEPPER", Value: "0123456789abcdef\nX=1"}, false, "line break"},
		{Change{Key: "MY_OWN", Value: "a\rb"}, true, "line break"},
		{Change{Key: "MY_OWN", Value: "caf\xe9"}, true, "not valid UTF-8"},
		{Change{Key: "DATABASE_URL", Value: "postgres://app:s3cret@db:notaport/app"}, false, "DATABASE_URL does not parse"},
		{Change{Key: "PASSWORD_PEPPER", Value: "short"}, false, "at least 16"},
		{Change{Key: "DB_WAIT", Value: "soon"}, false, "DB_WAIT"},
		{Change{Key: "DATABASE_URL", Unset: true}, false, "DATABASE_URL is required"},
	} {
		err := tc.ch.Validate(tc.force)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q force=%v: %v, want %q", tc.ch.Key, tc.ch.Value, tc.force, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "0123456789abcdef") {
			t.Errorf("%s: the error shows the value: %v", tc.ch.Key, err)
		}
	}
	for _, ok := range []struct {
		ch    Change
		force bool
	}{
		{Change{Key: "PASSWORD_PEPPER", Value: "0123456789abcdef"}, false},
		{Change{Key: "GOMEMLIMIT", Value: "400MiB"}, false},
		{Change{Key: "MY_OWN", Value: "anything at all"}, true},
		{Change{Key: "LOG_FORMAT", Unset: true}, false},
	} {
		if err := ok.ch.Validate(ok.force); err != nil {
			t.Errorf("%s: %v", ok.ch.Key, err)
		}
	}
}

func TestReadValueDropsOneTrailingNewlineAndRefusesNothing(t *testing.T) {
	for in, want := range map[string]string{"s3cret\n": "s3cret", "s3cret": "s3cret", "a b\r\n": "a b", "x\n\n": "x\n"} {
		if got, err := readValue("K", strings.NewReader(in)); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	if _, err := readValue("K", strings.NewReader("")); err == nil || !strings.Contains(err.Error(), "env:unset") {
		t.Errorf("empty stdin: %v", err)
	}
}

func TestEncodeLeavesSafeValuesBareAndQuotesTheRest(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://a:b@h:5432/db?sslmode=disable": "postgres://a:b@h:5432/db?sslmode=disable",
		"":           "",
		"a b":        `"a b"`,
		`$x"\` + "`": `"\$x\"\\` + "\\`\"",
	} {
		if got := Encode(in); got != want {
			t.Errorf("Encode(%q) = %s, want %s", in, got, want)
		}
	}
}

// An app that reads its database URL under its own name (targets.Project's
// DatabaseURL) gets the same guard for it as DATABASE_URL: required, must
// parse, no -force needed.
func TestTheAppsOwnDatabaseURLNameIsGuardedAsDatabaseURL(t *testing.T) {
	ok := Change{Key: "SHOP_DATABASE_URL", Value: "postgres://shop@localhost/shop", DatabaseURL: "SHOP_DATABASE_URL"}
	if err := ok.Validate(false); err != nil {
		t.Errorf("a valid URL under the app's name: %v", err)
	}
	for _, c := range []struct {
		ch   Change
		want string
	}{
		{Change{Key: "SHOP_DATABASE_URL", Unset: true, DatabaseURL: "SHOP_DATABASE_URL"}, "env: SHOP_DATABASE_URL is required"},
		{Change{Key: "SHOP_DATABASE_URL", Value: "postgres://a b@:x", DatabaseURL: "SHOP_DATABASE_URL"}, "env: SHOP_DATABASE_URL refused, nothing was written: SHOP_DATABASE_URL does not parse"},
		{Change{Key: "SHOP_DATABASE_URL", Value: "postgres://x\n", DatabaseURL: "SHOP_DATABASE_URL"}, "env: the value of SHOP_DATABASE_URL holds a line break"},
	} {
		err := c.ch.Validate(false)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q...", c.ch, err, c.want)
		}
	}
}
