package devdb

import (
	"context"
	"database/sql"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver goose runs on

	"github.com/slipway-dev/slipway/internal/migrate"
	"github.com/slipway-dev/slipway/internal/postgres"
)

// ResetDB drops and recreates the local database (ending its other
// connections first), applies every migration in o.Dir and prints the final
// version. Guard runs first: a refused reset changes nothing.
func ResetDB(ctx context.Context, o Options) error {
	return withLocal(ctx, o, func(url, admin string) error {
		if err := Guard(url, o.Getenv, o.Force); err != nil {
			return err
		}
		res, err := Reset(ctx, url, admin, o.Dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(o.Stdout, "resetDB: database %s dropped, created and migrated to version %d (%s applied)\n",
			databaseName(url), res.To, plural(len(res.Applied), "migration"))
		fmt.Fprintln(o.Stdout, "resetDB: run go run mage.go seed to add development data")
		return nil
	})
}

// Reset drops the database url points at, creates it empty and applies the
// migrations of dir: drop → create → up. Dropping and creating go through
// admin (the same server; url itself for DATABASE_URL), and url's role
// owns the new database. It does not check Guard; ResetDB does. The
// migration files are loaded before anything is dropped, so a folder goose
// refuses (duplicate versions) leaves the database alone.
func Reset(ctx context.Context, url, admin, dir string) (migrate.Result, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return migrate.Result{}, postgres.BadURL("DATABASE_URL")
	}
	acfg, err := pgx.ParseConfig(admin)
	if err != nil {
		return migrate.Result{}, postgres.BadURL("DATABASE_URL")
	}
	name := cfg.Database
	switch name {
	case "", "postgres", "template0", "template1":
		return migrate.Result{}, fmt.Errorf("refusing to reset %q, a database PostgreSQL itself needs: point DATABASE_URL at the app's database", name)
	}
	db, err := sql.Open("pgx", url) // lazy: no connection before the database exists again
	if err != nil {
		return migrate.Result{}, fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	m, err := migrate.New(db, os.DirFS(dir))
	if err != nil {
		return migrate.Result{}, err
	}
	if err := recreate(ctx, acfg, name, ownerFor(acfg, cfg.User)); err != nil {
		return migrate.Result{}, err
	}
	res, err := m.Up(ctx)
	if err != nil {
		return res, fmt.Errorf("database %s was recreated but migrating it failed: %w", name, err)
	}
	return res, nil
}

// recreate drops and creates database name through the server's postgres
// database, since a database can't be dropped from inside itself,
// connected as cfg's role; owner, when set, owns the new one.
func recreate(ctx context.Context, cfg *pgx.ConnConfig, name, owner string) error {
	admin := cfg.Copy()
	admin.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to the postgres database to drop %s: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// WITH (FORCE) ends the sessions too, but only from PostgreSQL 13 on,
	// and not those of a `dev` app that reconnects in between: ending them
	// first makes the common case work on any version.
	if _, err := conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name); err != nil {
		return fmt.Errorf("end connections to %s: %w", name, err)
	}
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	create := "CREATE DATABASE " + ident
	if owner != "" {
		create += " OWNER " + pgx.Identifier{owner}.Sanitize()
	}
	if _, err := conn.Exec(ctx, create); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// ownerFor is the OWNER to create a database with, for role to own it when
// admin's role creates it: none when they are the same.
func ownerFor(admin *pgx.ConnConfig, role string) string {
	if admin.User == role {
		return ""
	}
	return role
}
