package admin

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// WatchEvery is how often WatchFailures looks at the failed logins.
const WatchEvery = 30 * time.Second

// WatchFailures is this repository's app's login-watch worker: every
// WatchEvery until ctx is done, it logs one warning per email that
// reached MaxPerEmail failed logins within the throttle's Window (the
// throttle then refuses it), so an attack on an account shows in the
// journal once, not only as refused logins. It returns nil when ctx ends:
// it holds nothing that needs draining.
func WatchFailures(ctx context.Context, db *pgxpool.Pool, log *slog.Logger) error {
	warned := map[string]time.Time{}
	t := time.NewTicker(WatchEvery)
	defer t.Stop()
	for {
		if err := watchOnce(ctx, db, log, warned); err != nil && ctx.Err() == nil {
			log.Warn("login watch", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func watchOnce(ctx context.Context, db *pgxpool.Pool, log *slog.Logger, warned map[string]time.Time) error {
	rows, err := db.Query(ctx, `SELECT email, count(*), max(at) FROM login_failures
		WHERE at > now() - $1::interval GROUP BY email HAVING count(*) >= $2`, interval(Window), MaxPerEmail)
	if err != nil {
		return fmt.Errorf("read failed logins: %w", err)
	}
	defer rows.Close()
	now := time.Now()
	for rows.Next() {
		var email string
		var n int64
		var last time.Time
		if err := rows.Scan(&email, &n, &last); err != nil {
			return err
		}
		if at, ok := warned[email]; ok && now.Sub(at) < Window {
			continue
		}
		warned[email] = now
		log.Warn("many failed logins for one account: the throttle refuses it for now", "email", bounded(email), "failures", n, "window", Window.String(), "last", last.UTC().Format(time.RFC3339))
	}
	for email, at := range warned {
		if now.Sub(at) >= Window {
			delete(warned, email)
		}
	}
	return rows.Err()
}
