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
	c, err := FromEnv(getenv)
	errs := []error{err}
	errs = append(errs, CheckDatabaseURL(c.DatabaseURL))
	if c.PasswordPepper != "" {
		if _, err := password.New(c.PasswordPepper, password.Default); err != nil {
			errs = append(errs, err)
		}
	}
	return c, errors.Join(errs...)
}

// CheckDatabaseURL reports a DATABASE_URL that is empty or that pgx can't
// parse. pgx's own message leaves the password out.
func CheckDatabaseURL(url string) error {
	if url == "" {
		return errors.New("DATABASE_URL is not set: set it to postgres://user:password@host:5432/dbname")
	}
	if _, err := pgconn.ParseConfig(url); err != nil {
		return fmt.Errorf("DATABASE_URL does not parse (%v): use postgres://user:password@host:5432/dbname", err)
	}
	return nil
}
