package devdb

import (
	"context"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/slipway-dev/slipway/internal/migrate"
)

// NoLogin is the password_hash of every seeded user. It is not a PHC string
// (those start with "$"), so no password can ever match it: seeded users
// carry no secret and can't log in until `app admin create` sets one.
const NoLogin = "!seed: no login"

// seeds is the development data, one statement per table, each idempotent
// (ON CONFLICT DO NOTHING on a natural key) so that seeding twice adds
// nothing. It lives here, not in a migration: production never gets it.
var seeds = []struct {
	table string
	sql   string
}{
	{"users", `INSERT INTO users (email, password_hash, is_admin) VALUES
		('admin@example.com', $1, true),
		('alice@example.com', $1, false),
		('bob@example.com',   $1, false)
		ON CONFLICT (email) DO NOTHING`},
}

// Seed fills the local database with development data and prints how many
// rows it added (0 on a second run). Guard runs first. The database must be
// fully migrated: seeding a half-migrated one would fail half way.
func Seed(ctx context.Context, o Options) error {
	return withLocal(ctx, o, func(url, _ string) error {
		if err := Guard(url, o.Getenv, o.Force); err != nil {
			return err
		}
		if o.SeedFile != "" {
			n, err := SeedFile(ctx, url, o.Dir, o.SeedFile)
			if err != nil {
				return err
			}
			fmt.Fprintf(o.Stdout, "seed: database %s: %s added from %s\n", databaseName(url), plural(int(n), "row"), o.SeedFile)
			return nil
		}
		added, err := SeedURL(ctx, url, o.Dir)
		if err != nil {
			return err
		}
		total := int64(0)
		for _, n := range added {
			total += n
		}
		if total == 0 {
			fmt.Fprintf(o.Stdout, "seed: database %s already holds the development data: 0 rows added\n", databaseName(url))
			return nil
		}
		fmt.Fprintf(o.Stdout, "seed: database %s: %s added", databaseName(url), plural(int(total), "row"))
		for _, s := range seeds {
			fmt.Fprintf(o.Stdout, ", %s %d", s.table, added[s.table])
		}
		fmt.Fprintln(o.Stdout)
		return nil
	})
}

// SeedURL inserts the development data into the database url points at, in
// one transaction, and returns the rows added per table. It does not check
// Guard; Seed does.
func SeedURL(ctx context.Context, url, dir string) (map[string]int64, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := needMigrated(ctx, conn, dir); err != nil {
		return nil, err
	}
	added := map[string]int64{}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, s := range seeds {
			tag, err := tx.Exec(ctx, s.sql, NoLogin)
			if err != nil {
				return fmt.Errorf("seed %s: %w", s.table, err)
			}
			added[s.table] = tag.RowsAffected()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return added, nil
}

// SeedFile runs the statements of the SQL file at path on the database url
// points at, in one transaction (the simple protocol's implicit one), and
// returns the rows they added. It does not check Guard; Seed does.
func SeedFile(ctx context.Context, url, dir, path string) (int64, error) {
	sql, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("seed: %w", err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, fmt.Errorf("connect to database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := needMigrated(ctx, conn, dir); err != nil {
		return 0, err
	}
	results, err := conn.PgConn().Exec(ctx, string(sql)).ReadAll()
	if err != nil {
		return 0, fmt.Errorf("seed %s: %w", path, err)
	}
	var n int64
	for _, r := range results {
		if r.Err != nil {
			return 0, fmt.Errorf("seed %s: %w", path, r.Err)
		}
		n += r.CommandTag.RowsAffected()
	}
	return n, nil
}

// needMigrated refuses a database with pending migrations.
func needMigrated(ctx context.Context, conn *pgx.Conn, dir string) error {
	db := stdlib.OpenDB(*conn.Config())
	defer db.Close()
	m, err := migrate.New(db, os.DirFS(dir))
	if err != nil {
		return err
	}
	pending, err := m.Pending(ctx)
	if err != nil {
		return fmt.Errorf("%w: start over with go run mage.go resetDB, then seed", err)
	}
	if pending {
		return fmt.Errorf("database %s has pending migrations: apply them (go run mage.go dev) or start over with go run mage.go resetDB, then seed", conn.Config().Database)
	}
	return nil
}
