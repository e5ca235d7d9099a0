package devdb

import (
	"context"
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
	return withLocal(ctx, o, func(url string) error {
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
		v, err := Load(ctx, url, dump)
		if err != nil {
			return err
		}
		fmt.Fprintf(o.Stdout, "pullDB: database %s now holds %s (schema version %d)\n", databaseName(url), what, v)
		return nil
	})
}

// Load drops and recreates the database url points at and restores the
// pg_dump --format=custom file dump into it, without the server's owners
// and grants (the local role owns it all). It returns the goose version
// the database holds. Guard is the caller's.
func Load(ctx context.Context, url, dump string) (int64, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return 0, postgres.BadURL("DATABASE_URL")
	}
	if out, err := exec.CommandContext(ctx, "pg_restore", "--list", dump).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("the backup is damaged, nothing changed (pg_restore --list: %s)", strings.TrimSpace(lastLine(out)))
	}
	if err := recreate(ctx, cfg, cfg.Database); err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, "pg_restore", "--no-owner", "--no-acl", "--exit-on-error", "--single-transaction", "-d", cfg.Database, dump)
	cmd.Env = append(os.Environ(), pgEnv(cfg)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("pg_restore into %s: %v: %s", cfg.Database, err, strings.TrimSpace(lastLine(out)))
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
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

// pgEnv is libpq's environment for cfg: the password never goes in argv.
func pgEnv(cfg *pgx.ConnConfig) []string {
	return []string{"PGHOST=" + cfg.Host, "PGPORT=" + strconv.Itoa(int(cfg.Port)), "PGUSER=" + cfg.User,
		"PGPASSWORD=" + cfg.Password, "PGDATABASE=" + cfg.Database}
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
