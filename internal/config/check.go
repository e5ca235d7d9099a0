package config

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/slipway-dev/slipway/internal/password"
)

// Check loads the settings the way `app serve` does, without connecting
// anywhere, and reports every problem at once: each bad value, a missing
// or unparsable DATABASE_URL, a PASSWORD_PEPPER too short to be used.
// `app config check` runs it on the server against a candidate env file
// before env:set lets the file go live.
func Check(getenv func(string) string) (Config, error) {
	return CheckFor(getenv, DefaultDatabaseURLVar, CheckPepper)
}

// CheckFor is Check for an app that reads its database URL from dbVar
// ("" is DATABASE_URL) and checks its other settings with each of extra
// (CheckPepper for an app with the admin area). An app without the admin
// area leaves CheckPepper out, and so never links the password hasher.
func CheckFor(getenv func(string) string, dbVar string, extra ...func(Config) error) (Config, error) {
	c, err := Load(getenv, dbVar)
	errs := []error{err}
	errs = append(errs, checkDatabaseURL(c.urlVar(), c.DatabaseURL))
	for _, check := range extra {
		errs = append(errs, check(c))
	}
	return c, errors.Join(errs...)
}

// CheckPepper reports a PASSWORD_PEPPER too short to be used (unset is
// fine: the admin area is then off).
func CheckPepper(c Config) error {
	if c.PasswordPepper == "" {
		return nil
	}
	_, err := password.New(c.PasswordPepper, password.Default)
	return err
}

// CheckDatabaseURL reports a DATABASE_URL that is empty or that pgx can't
// parse. pgx's own message leaves the password out.
func CheckDatabaseURL(url string) error {
	return checkDatabaseURL(DefaultDatabaseURLVar, url)
}

// checkDatabaseURL is CheckDatabaseURL for the URL read from name.
func checkDatabaseURL(name, url string) error {
	if url == "" {
		return fmt.Errorf("%s is not set: set it to postgres://user:password@host:5432/dbname", name)
	}
	if _, err := pgconn.ParseConfig(url); err != nil {
		return fmt.Errorf("%s does not parse (%v): use postgres://user:password@host:5432/dbname", name, err)
	}
	return nil
}
