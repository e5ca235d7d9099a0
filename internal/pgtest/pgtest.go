// Package pgtest gives each test its own real PostgreSQL database.
//
// One server per test binary: the one TEST_DATABASE_URL (or DATABASE_URL)
// names, else a throwaway cluster (package pgcluster). The app's migrations
// are applied once to a template database; each test gets a clone of it,
// which takes ~0.1 s instead of migrating again, and is dropped afterwards.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/slipway-dev/slipway/internal/migrate"
	"github.com/slipway-dev/slipway/internal/pgcluster"
	"github.com/slipway-dev/slipway/internal/testenv"
	"github.com/slipway-dev/slipway/migrations"
)

var (
	adminURL string // a URL with the right to create databases
	tmpl     string // name of the migrated template database
	setupErr error  // why no server is available
	seq      atomic.Int64
)

// Main starts the package's server, runs the tests and stops the server,
// also when tests fail. Use it as `func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }`.
func Main(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stop func()
	adminURL, stop, setupErr = server(ctx)
	if setupErr == nil {
		tmpl = fmt.Sprintf("slipway_tmpl_%d", os.Getpid())
		setupErr = createTemplate(ctx)
	}
	code := m.Run()
	if setupErr == nil {
		dropDatabase(context.Background(), tmpl)
	}
	if stop != nil {
		stop()
	}
	return code
}

func server(ctx context.Context) (string, func(), error) {
	for _, k := range []string{"TEST_DATABASE_URL", "DATABASE_URL"} {
		if u := os.Getenv(k); u != "" {
			return u, nil, nil
		}
	}
	c, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		return "", nil, err
	}
	return c.URL("postgres"), func() {
		if err := c.Stop(); err != nil {
			log.Printf("pgtest: stop cluster: %v", err)
		}
	}, nil
}

func createTemplate(ctx context.Context) error {
	if err := pgcluster.CreateDatabase(ctx, adminURL, tmpl, ""); err != nil {
		return err
	}
	db, err := sql.Open("pgx", WithDatabase(adminURL, tmpl))
	if err != nil {
		return err
	}
	// The template must have no open connection when it is cloned.
	defer db.Close()
	m, err := migrate.New(db, migrations.FS)
	if err != nil {
		return err
	}
	if _, err := m.Up(ctx); err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	return nil
}

// WithDatabase returns rawURL pointing at database db instead.
func WithDatabase(rawURL, db string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(fmt.Sprintf("pgtest: bad URL: %v", err))
	}
	u.Path = "/" + db
	return u.String()
}

func available(t testing.TB) {
	t.Helper()
	if setupErr == nil && adminURL == "" {
		t.Fatal("pgtest: call pgtest.Main from the package's TestMain")
	}
	if setupErr != nil {
		testenv.Need(t, false, fmt.Sprintf("PostgreSQL for tests: %v", setupErr))
	}
}

// URL returns the URL of a new database with every migration applied,
// dropped when the test ends.
func URL(t testing.TB) string { return newDB(t, tmpl) }

// EmptyURL returns the URL of a new empty database (no version table),
// dropped when the test ends.
func EmptyURL(t testing.TB) string { return newDB(t, "") }

// AdminURL returns a URL with the right to create and drop databases.
func AdminURL(t testing.TB) string {
	t.Helper()
	available(t)
	return adminURL
}

func newDB(t testing.TB, template string) string {
	t.Helper()
	available(t)
	name := fmt.Sprintf("t_%d_%d", os.Getpid(), seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pgcluster.CreateDatabase(ctx, adminURL, name, template); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { dropDatabase(context.Background(), name) })
	return WithDatabase(adminURL, name)
}

// Pool opens a pgx pool on a new migrated database, closed when the test ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return PoolFor(t, URL(t))
}

// PoolFor opens a pgx pool on dbURL, closed when the test ends.
func PoolFor(t testing.TB, dbURL string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatalf("pgtest: open pool: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// SQLDB opens a *sql.DB (pgx driver) on dbURL, closed when the test ends.
func SQLDB(t testing.TB, dbURL string) *sql.DB {
	t.Helper()
	db := stdlib.OpenDBFromPool(PoolFor(t, dbURL))
	t.Cleanup(func() { db.Close() })
	return db
}

func dropDatabase(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		log.Printf("pgtest: drop %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		log.Printf("pgtest: drop %s: %v", name, err)
	}
}
