package migrate_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/slipway-dev/slipway/internal/migrate"
	"github.com/slipway-dev/slipway/internal/pgtest"
)

// counter is a pgx tracer that records every statement sent.
type counter struct {
	mu   sync.Mutex
	sqls []string
}

func (c *counter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.mu.Lock()
	c.sqls = append(c.sqls, d.SQL)
	c.mu.Unlock()
	return ctx
}

func (c *counter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *counter) reset() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sqls
	c.sqls = nil
	return s
}

func generated(n int) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := 1; i <= n; i++ {
		fsys[fmt.Sprintf("%05d_m%d.sql", i, i)] = file(fmt.Sprintf("CREATE TABLE m%d (id int);", i), fmt.Sprintf("DROP TABLE m%d;", i))
	}
	return fsys
}

// migrated returns a traced pool on a database with all n migrations applied.
func migrated(tb testing.TB, n int) (*pgxpool.Pool, *counter, fstest.MapFS) {
	tb.Helper()
	fsys := generated(n)
	cfg, err := pgxpool.ParseConfig(pgtest.EmptyURL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tr := &counter{}
	cfg.ConnConfig.Tracer = tr
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	m, err := migrate.New(stdlib.OpenDBFromPool(pool), fsys)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := m.Up(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tr.reset()
	return pool, tr, fsys
}

// startupCheck is what every app start does: a fresh Migrator, then Up.
func startupCheck(tb testing.TB, pool *pgxpool.Pool, fsys fstest.MapFS) {
	m, err := migrate.New(stdlib.OpenDBFromPool(pool), fsys)
	if err != nil {
		tb.Fatal(err)
	}
	res, err := m.Up(context.Background())
	if err != nil || len(res.Applied) != 0 {
		tb.Fatalf("startup check applied %v, %v", res.Applied, err)
	}
}

func tookLock(sqls []string) bool {
	for _, s := range sqls {
		if strings.Contains(s, "advisory_lock") {
			return true
		}
	}
	return false
}

func TestStartupCheckWithNothingPendingIsTwoStatementsAndNoLock(t *testing.T) {
	pool, tr, fsys := migrated(t, 10)
	startupCheck(t, pool, fsys)
	sqls := tr.reset()
	if len(sqls) > 2 || tookLock(sqls) {
		t.Errorf("startup check with 0 pending sent %d statements (want <= 2, no lock):\n%s", len(sqls), strings.Join(sqls, "\n"))
	}
}

// BenchmarkStartupCheck measures the startup migration check with nothing
// pending: time per check, and statements per check (metric stmts/op).
//
// The baseline sub-benchmark is one `SELECT 1` through database/sql on the
// same pool, as goose sends its statements: the cheapest round trip, to
// read the others as multiples of it.
func BenchmarkStartupCheck(b *testing.B) {
	b.Run("baseline=select1", func(b *testing.B) {
		pool, _, _ := migrated(b, 1)
		db := stdlib.OpenDBFromPool(pool) // the path goose's statements take
		ctx := context.Background()
		var one int
		for i := 0; i < b.N; i++ {
			if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, n := range []int{10, 200, 1000} {
		b.Run(fmt.Sprintf("migrations=%d", n), func(b *testing.B) {
			pool, tr, fsys := migrated(b, n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				startupCheck(b, pool, fsys)
			}
			b.StopTimer()
			sqls := tr.reset()
			b.ReportMetric(float64(len(sqls))/float64(b.N), "stmts/op")
			locks := 0.0
			if tookLock(sqls) {
				locks = 1
			}
			b.ReportMetric(locks, "locked")
		})
	}
}
