// Package config reads the app's settings from the environment, the one
// place a systemd EnvironmentFile, a shell and a test can all set them.
package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/clientip"
)

// Config holds every setting of the app.
type Config struct {
	DatabaseURL string // DATABASE_URL, or the app's own name for it (required)
	// DatabaseURLVar is the name DatabaseURL was read from (Load's dbVar),
	// for the messages that name it.
	DatabaseURLVar    string
	Addr              string        // ADDR, when systemd passes no socket
	LogFormat         string        // LOG_FORMAT: "json", "text" or "" (text on a terminal, else json)
	NoMigrate         bool          // NO_MIGRATE: skip the startup migration
	DBWait            time.Duration // DB_WAIT: how long to retry an unreachable database at startup
	MigrationLockWait time.Duration // MIGRATION_LOCK_WAIT: how long to wait for another instance's migrations
	ShutdownTimeout   time.Duration // SHUTDOWN_TIMEOUT: how long in-flight requests get on stop
	PasswordPepper    string        // PASSWORD_PEPPER: secret mixed into password hashes (admin login)
	// TrustedProxies (TRUSTED_PROXIES): peers whose X-Forwarded-For and
	// X-Forwarded-Proto are believed.
	TrustedProxies clientip.Proxies
	// CookieInsecure (COOKIE_INSECURE): cookies without Secure and without
	// the __Host- prefix, for plain http on loopback (the dev target) only.
	CookieInsecure bool
	// LoginHashConcurrency (LOGIN_HASH_CONCURRENCY): password hashes that
	// may run at once, 64 MiB each.
	LoginHashConcurrency int
	// MetricsAddr (METRICS_ADDR): where /metrics listens; "" when off.
	MetricsAddr string
	// MetricsToken (METRICS_TOKEN): the bearer token a scrape of /metrics
	// must send; without one /metrics is not served (every local user
	// reaches loopback).
	MetricsToken string
}

// MinMetricsToken is METRICS_TOKEN's shortest length.
const MinMetricsToken = 16

// DefaultMetricsAddr keeps /metrics on loopback: exposing it further must
// be asked for by name.
const DefaultMetricsAddr = "127.0.0.1:9090"

// DefaultLoginHashConcurrency keeps login hashing within 128 MiB.
const DefaultLoginHashConcurrency = 2

// DefaultDatabaseURLVar is the variable holding the database URL unless
// the app names another (Load).
const DefaultDatabaseURLVar = "DATABASE_URL"

// AdminVars are the Vars only the admin area reads: an app without it
// (app.Config.Admin off) neither lists nor checks PASSWORD_PEPPER's
// strength.
var AdminVars = map[string]bool{"PASSWORD_PEPPER": true, "LOGIN_HASH_CONCURRENCY": true, "COOKIE_INSECURE": true}

// Vars lists every variable FromEnv reads, with its default, for help texts.
// The first is the database URL's, under its default name.
var Vars = []struct{ Name, Default, Doc string }{
	{"DATABASE_URL", "", "PostgreSQL URL (required), e.g. postgres://app@localhost/app"},
	{"ADDR", "127.0.0.1:8080", "listen address when not socket-activated"},
	{"LOG_FORMAT", "auto", "json or text; auto is text on a terminal, json otherwise"},
	{"NO_MIGRATE", "false", "true skips the startup migration (run `app migrate up` from your pipeline)"},
	{"DB_WAIT", "30s", "how long to retry an unreachable database at startup"},
	{"MIGRATION_LOCK_WAIT", "10m", "how long to wait while another instance migrates"},
	{"SHUTDOWN_TIMEOUT", "30s", "how long in-flight requests may take to finish on stop"},
	{"PASSWORD_PEPPER", "unset: admin area off", "secret (16+ chars) mixed into password hashes; keep it in the service's env file"},
	{"TRUSTED_PROXIES", "none", "CIDRs of reverse proxies whose X-Forwarded-For/-Proto are believed, e.g. 127.0.0.1/32,::1/128"},
	{"LOGIN_HASH_CONCURRENCY", strconv.Itoa(DefaultLoginHashConcurrency), "password hashes at once (64 MiB each); more attempts wait briefly, then get 503"},
	{"METRICS_ADDR", DefaultMetricsAddr, "listen address of /metrics (Prometheus); off disables it; another host than loopback only when set"},
	{"METRICS_TOKEN", "unset: metrics not served", "bearer token (16+ chars) a scrape of /metrics sends; keep it in the service's env file"},
	{"COOKIE_INSECURE", "false", "true drops Secure and __Host- from cookies: plain http on loopback only (set by the dev target)"},
}

// FromEnv reads the configuration and reports every bad value at once.
// DATABASE_URL is checked separately (RequireDatabase): `app version` needs none.
func FromEnv(getenv func(string) string) (Config, error) {
	return Load(getenv, DefaultDatabaseURLVar)
}

// Load is FromEnv with the database URL read from dbVar ("" is
// DATABASE_URL): an app that already keeps it under a name of its own
// keeps that name. Every other variable has the name in Vars.
func Load(getenv func(string) string, dbVar string) (Config, error) {
	if dbVar == "" {
		dbVar = DefaultDatabaseURLVar
	}
	c := Config{
		DatabaseURL:    getenv(dbVar),
		DatabaseURLVar: dbVar,
		Addr:           or(getenv("ADDR"), "127.0.0.1:8080"),
		LogFormat:      strings.ToLower(getenv("LOG_FORMAT")),

		PasswordPepper:       getenv("PASSWORD_PEPPER"),
		LoginHashConcurrency: DefaultLoginHashConcurrency,
	}
	var errs []error
	switch c.LogFormat {
	case "", "auto":
		c.LogFormat = ""
	case "json", "text":
	default:
		errs = append(errs, fmt.Errorf("LOG_FORMAT=%q: use json, text or auto", c.LogFormat))
	}
	var err error
	if v := getenv("NO_MIGRATE"); v != "" {
		if c.NoMigrate, err = strconv.ParseBool(v); err != nil {
			errs = append(errs, fmt.Errorf("NO_MIGRATE=%q: use true or false", v))
		}
	}
	if v := getenv("COOKIE_INSECURE"); v != "" {
		if c.CookieInsecure, err = strconv.ParseBool(v); err != nil {
			errs = append(errs, fmt.Errorf("COOKIE_INSECURE=%q: use true or false", v))
		}
	}
	if c.TrustedProxies, err = clientip.ParseProxies(getenv("TRUSTED_PROXIES")); err != nil {
		errs = append(errs, err)
	}
	if c.MetricsAddr, err = metricsAddr(getenv("METRICS_ADDR")); err != nil {
		errs = append(errs, err)
	}
	c.MetricsToken = getenv("METRICS_TOKEN")
	if t := c.MetricsToken; t != "" && (len(t) < MinMetricsToken || strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r > '~' })) {
		errs = append(errs, fmt.Errorf("METRICS_TOKEN: use %d or more printable ASCII characters without spaces, e.g. the output of `openssl rand -hex 32`", MinMetricsToken))
	}
	if v := getenv("LOGIN_HASH_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 256 {
			errs = append(errs, fmt.Errorf("LOGIN_HASH_CONCURRENCY=%q: use a whole number from 1 to 256 (each hash takes 64 MiB)", v))
		}
		c.LoginHashConcurrency = n
	}
	for _, d := range []struct {
		name, def string
		dst       *time.Duration
	}{
		{"DB_WAIT", "30s", &c.DBWait},
		{"MIGRATION_LOCK_WAIT", "10m", &c.MigrationLockWait},
		{"SHUTDOWN_TIMEOUT", "30s", &c.ShutdownTimeout},
	} {
		v := or(getenv(d.name), d.def)
		*d.dst, err = time.ParseDuration(v)
		if err != nil || *d.dst <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q: use a positive duration such as 30s or 2m", d.name, v))
		}
	}
	return c, errors.Join(errs...)
}

// RequireDatabase fails with the fix when DATABASE_URL (DatabaseURLVar) is unset.
func (c Config) RequireDatabase() error {
	if c.DatabaseURL == "" {
		name := c.urlVar()
		return fmt.Errorf("%s is not set: export %s=postgres://user@host:5432/dbname", name, name)
	}
	return nil
}

// urlVar is DatabaseURLVar, DATABASE_URL for a Config built by hand.
func (c Config) urlVar() string {
	if c.DatabaseURLVar == "" {
		return DefaultDatabaseURLVar
	}
	return c.DatabaseURLVar
}

// metricsAddr checks METRICS_ADDR: host:port, or off.
func metricsAddr(v string) (string, error) {
	switch strings.ToLower(v) {
	case "":
		return DefaultMetricsAddr, nil
	case "off":
		return "", nil
	}
	_, port, err := net.SplitHostPort(v)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("METRICS_ADDR=%q: use host:port such as %s, or off", v, DefaultMetricsAddr)
	}
	return v, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
