// Package postgres opens the app's connection pool, waiting a bounded time
// for a database that is still starting (a server reboot brings the app and
// PostgreSQL up together).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Open returns a pool on databaseURL once the server answers. Connection
// errors (refused, timeout, DNS) are retried with backoff for up to wait; an
// answer from the server itself (bad password, no such database) fails at
// once since waiting won't fix it. Errors never contain the password.
func Open(ctx context.Context, databaseURL string, wait time.Duration, log *slog.Logger) (*pgxpool.Pool, error) {
	return OpenNamed(ctx, "DATABASE_URL", databaseURL, wait, log)
}

// OpenNamed is Open for a URL read from the variable name (an app may keep
// its database URL under a name of its own): a URL that does not parse is
// reported by that name.
func OpenNamed(ctx context.Context, name, databaseURL string, wait time.Duration, log *slog.Logger) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, BadURL(name)
	}
	where := net.JoinHostPort(cfg.ConnConfig.Host, fmt.Sprint(cfg.ConnConfig.Port))
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool for %s: %w", where, err)
	}
	start := time.Now()
	deadline := start.Add(wait)
	delay := 100 * time.Millisecond
	logged := false
	for {
		pctx, cancel := context.WithTimeout(ctx, min(5*time.Second, max(time.Until(deadline), 100*time.Millisecond)))
		err = pool.Ping(pctx)
		cancel()
		if err == nil {
			return pool, nil
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			pool.Close()
			return nil, fmt.Errorf("database at %s refused the connection: %s (SQLSTATE %s)", where, pgErr.Message, pgErr.Code)
		}
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			pool.Close()
			if ctx.Err() != nil {
				return nil, fmt.Errorf("database unreachable at %s: %w", where, ctx.Err())
			}
			return nil, fmt.Errorf("database unreachable at %s after %s: %s", where, time.Since(start).Round(100*time.Millisecond), cause(err))
		}
		if !logged {
			log.Warn("database unreachable, retrying", "at", where, "for", wait.String(), "cause", cause(err))
			logged = true
		}
		select {
		case <-time.After(min(delay, max(time.Until(deadline), 0))):
		case <-ctx.Done():
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// BadURL is the error for a database URL that doesn't parse, named by its
// variable. pgx's own message quotes the URL with the password masked, but
// it finds the password by the first '@' and ':', so part of a password
// holding those would be shown: the value is never repeated.
func BadURL(variable string) error {
	return fmt.Errorf("%s is not a valid PostgreSQL URL (its value is not shown, it may hold a password): use postgres://user:password@host:port/db with @ : / %% in the password percent-encoded", variable)
}

// cause is the innermost useful message: "connect: connection refused"
// rather than pgx's full wrapping, which repeats the host and user.
func cause(err error) string {
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Err.Error()
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "connection timed out"
	}
	return err.Error()
}
