// Package migrate applies the app's goose SQL migrations to PostgreSQL: at
// startup (Up, serialised across instances by an advisory lock) and from a
// pipeline (`app migrate ...`).
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"path"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
)

// Result is what one Up/Down call did. When Up found nothing pending it is
// the zero Result.
type Result struct {
	From    int64    // database version before the call
	To      int64    // database version after the call
	Applied []string // file names applied (or rolled back), in order
}

// Error reports the migration file that failed and PostgreSQL's own error.
// Each file runs in its own transaction, so the failed file left nothing
// behind; files before it in the same call stay applied (see Applied).
type Error struct {
	File    string
	Version int64
	Applied []string
	Err     error
}

func (e *Error) Error() string {
	return fmt.Sprintf("migration %s failed: %v", e.File, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

type config struct {
	logger   *slog.Logger
	lockWait time.Duration
}

// Option configures a Migrator.
type Option func(*config) error

// WithLogger sets the logger for the "migrations applied" line.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("migrate: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithLockWait bounds how long an instance waits for another instance's
// migrations before giving up. It must cover your slowest migration.
func WithLockWait(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("migrate: lock wait must be positive, got %s", d)
		}
		c.lockWait = d
		return nil
	}
}

// Migrator runs the migrations of one fs.FS against one database.
type Migrator struct {
	p   *goose.Provider
	log *slog.Logger
}

// New builds a Migrator over db (which it never closes) for the *.sql files
// at the top level of fsys.
func New(db *sql.DB, fsys fs.FS, opts ...Option) (*Migrator, error) {
	c := config{logger: slog.New(slog.DiscardHandler), lockWait: 10 * time.Minute}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithSessionLocker(advisoryLocker{id: LockID, wait: c.lockWait}),
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return &Migrator{p: p, log: c.logger}, nil
}

// Pending reports whether any migration is not applied yet. It takes no lock
// and issues at most two statements, so /readyz can call it freely.
func (m *Migrator) Pending(ctx context.Context) (bool, error) {
	ok, err := m.p.HasPending(ctx)
	if err != nil {
		return false, fmt.Errorf("check pending migrations: %w", err)
	}
	return ok, nil
}

// Up applies every pending migration. With nothing pending it returns at
// once without taking the lock; otherwise it takes the advisory lock, so of
// several instances starting together one applies the files and the others
// wait, then find nothing left to do.
func (m *Migrator) Up(ctx context.Context) (Result, error) {
	return m.UpTo(ctx, math.MaxInt64)
}

// UpTo applies pending migrations up to and including version.
func (m *Migrator) UpTo(ctx context.Context, version int64) (Result, error) {
	// The no-pending path is every ordinary restart: keep it to the two
	// statements of Pending, without the lock or a version query.
	pending, err := m.Pending(ctx)
	if err != nil || !pending {
		return Result{}, err
	}
	from, err := m.current(ctx)
	if err != nil {
		return Result{}, err
	}
	res, err := m.p.UpTo(ctx, version)
	return m.finish(ctx, "migrations applied", from, res, err)
}

// Down rolls back the most recent migration.
func (m *Migrator) Down(ctx context.Context) (Result, error) {
	from, err := m.current(ctx)
	if err != nil {
		return Result{}, err
	}
	r, err := m.p.Down(ctx)
	var res []*goose.MigrationResult
	if r != nil {
		res = append(res, r)
	}
	if errors.Is(err, goose.ErrNoNextVersion) {
		return Result{From: from, To: from}, errors.New("nothing to roll back: no migration is applied")
	}
	return m.finish(ctx, "migrations rolled back", from, res, err)
}

// DownTo rolls back every migration above version (0 rolls back all).
func (m *Migrator) DownTo(ctx context.Context, version int64) (Result, error) {
	from, err := m.current(ctx)
	if err != nil {
		return Result{}, err
	}
	res, err := m.p.DownTo(ctx, version)
	return m.finish(ctx, "migrations rolled back", from, res, err)
}

// Version returns the database's current migration version without taking
// the lock (0 when nothing is applied).
func (m *Migrator) Version(ctx context.Context) (int64, error) {
	return m.current(ctx)
}

// Status lists every known migration with its state. It takes the lock, so
// it shows a consistent picture even while another instance migrates.
func (m *Migrator) Status(ctx context.Context) ([]*goose.MigrationStatus, error) {
	st, err := m.p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	return st, nil
}

func (m *Migrator) current(ctx context.Context) (int64, error) {
	v, _, err := m.p.GetVersions(ctx)
	if err != nil {
		return 0, fmt.Errorf("read database version: %w", err)
	}
	return v, nil
}

func (m *Migrator) finish(ctx context.Context, msg string, from int64, res []*goose.MigrationResult, err error) (Result, error) {
	out := Result{From: from}
	for _, r := range res {
		out.Applied = append(out.Applied, path.Base(r.Source.Path))
	}
	var perr *goose.PartialError
	if errors.As(err, &perr) {
		for _, r := range perr.Applied {
			out.Applied = append(out.Applied, path.Base(r.Source.Path))
		}
		cause := perr.Err
		var pg *pgconn.PgError
		if errors.As(cause, &pg) {
			cause = pg
		}
		err = &Error{File: path.Base(perr.Failed.Source.Path), Version: perr.Failed.Source.Version, Applied: out.Applied, Err: cause}
	} else if err != nil {
		err = fmt.Errorf("migrate: %w", err)
	}
	to, verr := m.current(ctx)
	if verr != nil && err == nil {
		err = verr
	}
	out.To = to
	if len(out.Applied) > 0 {
		m.log.LogAttrs(ctx, slog.LevelInfo, msg,
			slog.Int64("from", out.From), slog.Int64("to", out.To), slog.Any("files", out.Applied))
	}
	return out, err
}
