// Package devdb is the developer's side of the local database: resetDB,
// seed, and the database half of fixMigrations (remapping goose's version
// rows when timestamp migrations get their sequential numbers).
//
// Every function works on "the local database": DATABASE_URL when set, else
// the cluster in .dev/ that `dev` uses, started if needed (package dev),
// connected as the plain role that owns its database (dev.Role); the
// cluster's superuser only creates and drops databases.
// Whatever drops or writes data first passes Guard, so a DATABASE_URL left
// pointing at a shared or production server is refused.
package devdb

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/slipway-dev/slipway/internal/dev"
)

// Options says which database and migrations the targets work on.
type Options struct {
	// Root is the repository root: the local cluster lives in Root/.dev/pg.
	Root string
	// Dir is the migrations folder, read from disk so files created since
	// the last build count.
	Dir string
	// Getenv reads DATABASE_URL and APP_ENV.
	Getenv func(string) string
	// SeedFile is the SQL file Seed runs (idempotent statements, in one
	// transaction); "" is the built-in development users of the admin area.
	SeedFile string
	// Force skips Guard: -force on the command line.
	Force bool
	// Stdout gets the report of what was done.
	Stdout io.Writer
}

// withLocal runs fn on the local database, then releases it (stopping the
// cluster only if this call started it). fn gets the URL to work with and
// the one to administer the server with (dev.Database's URL and Admin).
func withLocal(ctx context.Context, o Options, fn func(url, admin string) error) (err error) {
	db, err := dev.LocalDatabase(ctx, o.Root, o.Getenv)
	if err != nil {
		return err
	}
	defer func() {
		if rerr := db.Release(); rerr != nil && err == nil {
			err = fmt.Errorf("stop local PostgreSQL: %w", rerr)
		}
	}()
	return fn(db.URL, db.Admin)
}

// plural is "1 row", "2 rows".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// databaseName is the database a URL points at, for messages.
func databaseName(url string) string {
	cfg, err := pgx.ParseConfig(url)
	if err != nil || cfg.Database == "" {
		return "(unknown)"
	}
	return cfg.Database
}
