package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// LockID is the PostgreSQL advisory lock key that serialises migrations
// across every instance of the app: "slipway" in ASCII. Pinned because goose's
// default ID changed silently between releases, and two binaries of one app
// using different IDs would migrate concurrently.
const LockID int64 = 0x736c6970776179

// advisoryLocker is a goose SessionLocker that blocks in pg_advisory_lock
// instead of polling pg_try_advisory_lock. goose's own locker polls at a
// period of at least one second, so an instance that loses the race sleeps a
// full period after the winner finishes; blocking wakes it the moment the lock
// is released. The wait is bounded by the context and by wait.
type advisoryLocker struct {
	id   int64
	wait time.Duration
}

func (l advisoryLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, l.wait)
	defer cancel()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", l.id); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("another instance held the migration lock (advisory lock %d) for more than %s", l.id, l.wait)
		}
		return fmt.Errorf("take migration lock: %w", err)
	}
	return nil
}

func (l advisoryLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	var released bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_advisory_unlock($1)", l.id).Scan(&released); err != nil {
		return fmt.Errorf("release migration lock: %w", err)
	}
	if !released {
		return fmt.Errorf("release migration lock: advisory lock %d was not held by this session", l.id)
	}
	return nil
}
