package devdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/slipway-dev/slipway/internal/postgres"
)

// PullDB replaces the local database with a server backup: Guard first
// (a refused pull fetches and changes nothing), then fetch writes the dump
// to the path it is given and returns a description of it, and Load
// restores it. The dump is removed afterwards.
func PullDB(ctx context.Context, o Options, fetch func(dst string) (string, error)) error {
	return withLocal(ctx, o, func(url, admin string) error {
		if err := Guard(url, o.Getenv, o.Force); err != nil {
			return err
		}
		dir, err := os.MkdirTemp("", "slipway-pulldb-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dump := filepath.Join(dir, "backup.dump")
		what, err := fetch(dump)
		if err != nil {
			return err
		}
		v, err := Load(ctx, url, admin, dump)
		if err != nil {
			return err
		}
		fmt.Fprintf(o.Stdout, "pullDB: database %s now holds %s (schema version %d)\n", databaseName(url), what, v)
		return nil
	})
}

// Load replaces the database url points at with the pg_dump
// --format=custom file dump, without the server's owners and grants: it
// restores into a new database and swaps it in only once the restore
// succeeded, so a failed one changes nothing. It restores connected as a
// role without superuser rights (RestoreRole when url's role is a
// superuser), which owns the result: the dump's functions run with the
// restoring role's rights. A dump only a superuser could restore is
// refused, never retried as one. Databases are created, dropped and
// renamed through admin (url itself for DATABASE_URL). It returns the
// goose version the database holds. Guard is the caller's.
func Load(ctx context.Context, url, admin, dump string) (int64, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return 0, postgres.BadURL("DATABASE_URL")
	}
	acfg, err := pgx.ParseConfig(admin)
	if err != nil {
		return 0, postgres.BadURL("DATABASE_URL")
	}
	switch cfg.Database {
	case "", "postgres", "template0", "template1":
		return 0, fmt.Errorf("refusing to replace %q, a database PostgreSQL itself needs: point DATABASE_URL at the app's database", cfg.Database)
	}
	list, err := exec.CommandContext(ctx, "pg_restore", "--list", dump).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("the backup is damaged, nothing changed (pg_restore --list: %s)", strings.TrimSpace(lastLine(list)))
	}
	as, err := restorer(ctx, cfg)
	if err != nil {
		return 0, err
	}
	if err := checkRestorable(ctx, as, list); err != nil {
		return 0, err
	}
	// A leftover of a pull killed midway is dropped by recreate.
	pulling := strings.ToValidUTF8(cfg.Database[:min(len(cfg.Database), 50)], "") + "_pulling"
	if err := recreate(ctx, acfg, pulling, ownerFor(acfg, as.User)); err != nil {
		return 0, err
	}
	into := as.Copy()
	into.Database = pulling
	cmd := exec.CommandContext(ctx, "pg_restore", "--no-owner", "--no-acl", "--exit-on-error", "--single-transaction", "-d", pulling, dump)
	cmd.Env = append(os.Environ(), pgEnv(into)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		if derr := dropDatabase(context.WithoutCancel(ctx), acfg, pulling); derr != nil {
			return 0, errors.Join(restoreError(cfg.Database, out), derr)
		}
		return 0, restoreError(cfg.Database, out)
	}
	if err := swap(ctx, acfg, pulling, cfg.Database); err != nil {
		return 0, err
	}
	// Read as the restoring role too: the dump could have put a view
	// calling a planted function where goose's table was.
	conn, err := pgx.ConnectConfig(ctx, as)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var v int64
	if err := conn.QueryRow(ctx, "SELECT COALESCE(max(version_id), 0) FROM goose_db_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("read the restored database's version: %w", err)
	}
	return v, nil
}

// checkRestorable logs in as the restoring role, before anything is
// dropped, and refuses a dump that only a superuser could restore.
func checkRestorable(ctx context.Context, as *pgx.ConnConfig, list []byte) error {
	probe := as.Copy()
	probe.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, probe)
	if err != nil {
		return fmt.Errorf("connect as %s, the role pullDB restores as: %w: let it log in to the local server (pg_hba.conf), nothing changed", as.User, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	what, err := superuserOnly(ctx, conn, list)
	if err != nil {
		return err
	}
	if what != "" {
		return fmt.Errorf("refusing: the backup holds %s, which only a superuser can restore, and pullDB never restores as one (a superuser would run the dump's functions with its rights): drop it on the server, or restore by hand if you trust the dump; nothing changed", what)
	}
	return nil
}

// swap drops database name (ending its sessions: a running `dev`) and
// renames database from to it.
func swap(ctx context.Context, cfg *pgx.ConnConfig, from, name string) error {
	admin := cfg.Copy()
	admin.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to the postgres database to swap in %s: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w (the pulled copy is database %s)", name, err, from)
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{from}.Sanitize()+" RENAME TO "+ident); err != nil {
		return fmt.Errorf("rename the pulled database %s to %s: %w", from, name, err)
	}
	return nil
}

func dropDatabase(ctx context.Context, cfg *pgx.ConnConfig, name string) error {
	admin := cfg.Copy()
	admin.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err == nil {
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}
	if err != nil {
		return fmt.Errorf("drop the unfinished copy %s: %w", name, err)
	}
	return nil
}

// pgEnv is libpq's environment for cfg: the password never goes in argv.
func pgEnv(cfg *pgx.ConnConfig) []string {
	return []string{"PGHOST=" + cfg.Host, "PGPORT=" + strconv.Itoa(int(cfg.Port)), "PGUSER=" + cfg.User,
		"PGPASSWORD=" + cfg.Password, "PGDATABASE=" + cfg.Database}
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
