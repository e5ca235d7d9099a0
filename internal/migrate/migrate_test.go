package migrate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/slipway-dev/slipway/internal/migrate"
	"github.com/slipway-dev/slipway/internal/pgtest"
	"github.com/slipway-dev/slipway/migrations"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func file(up, down string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("-- +goose Up\n" + up + "\n-- +goose Down\n" + down + "\n")}
}

// counted: every migration bumps a counter, so applying one twice shows.
func counted() fstest.MapFS {
	return fstest.MapFS{
		"00001_runs.sql":   file("CREATE TABLE runs (version int PRIMARY KEY, n int NOT NULL);\nINSERT INTO runs VALUES (1, 1);", "DROP TABLE runs;"),
		"00002_a.sql":      file("CREATE TABLE a (id int);\nINSERT INTO runs VALUES (2, 1) ON CONFLICT (version) DO UPDATE SET n = runs.n + 1;\nSELECT pg_sleep(0.2);", "DROP TABLE a;"),
		"00003_b.sql":      file("CREATE TABLE b (id int);\nINSERT INTO runs VALUES (3, 1) ON CONFLICT (version) DO UPDATE SET n = runs.n + 1;", "DROP TABLE b;"),
		"00004_a_col.sql":  file("ALTER TABLE a ADD COLUMN note text;\nINSERT INTO runs VALUES (4, 1) ON CONFLICT (version) DO UPDATE SET n = runs.n + 1;", "ALTER TABLE a DROP COLUMN note;"),
		"00005_b_rows.sql": file("INSERT INTO b VALUES (1);\nINSERT INTO runs VALUES (5, 1) ON CONFLICT (version) DO UPDATE SET n = runs.n + 1;", "DELETE FROM b;"),
	}
}

func TestConcurrentInstancesApplyEachMigrationOnce(t *testing.T) {
	url := pgtest.EmptyURL(t)
	const instances = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		applied []string
		errs    []error
	)
	start := make(chan struct{})
	for i := 0; i < instances; i++ {
		db := pgtest.SQLDB(t, url) // each instance has its own connections
		m, err := migrate.New(db, counted())
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := m.Up(context.Background())
			mu.Lock()
			defer mu.Unlock()
			applied = append(applied, res.Applied...)
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("instances failed: %v", errs)
	}
	if len(applied) != 5 {
		t.Errorf("files applied across %d instances = %d %v, want each of the 5 once", instances, len(applied), applied)
	}
	db := pgtest.SQLDB(t, url)
	var rows, maxN int
	if err := db.QueryRow("SELECT count(*), max(n) FROM runs").Scan(&rows, &maxN); err != nil {
		t.Fatal(err)
	}
	if rows != 5 || maxN != 1 {
		t.Errorf("runs table: %d rows, max count %d; want 5 rows each run once", rows, maxN)
	}
	var versions int
	if err := db.QueryRow("SELECT count(*) FROM goose_db_version WHERE version_id > 0").Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if versions != 5 {
		t.Errorf("goose_db_version has %d applied rows, want 5", versions)
	}
}

func TestFailingMigrationRollsBackAndNamesTheFile(t *testing.T) {
	url := pgtest.EmptyURL(t)
	db := pgtest.SQLDB(t, url)
	fsys := fstest.MapFS{
		"00001_ok.sql": file("CREATE TABLE ok (id int);", "DROP TABLE ok;"),
	}
	m, err := migrate.New(db, fsys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, url)

	fsys["00002_bad.sql"] = file("CREATE TABLE half (id int);\nALTER TABLE ok ADD COLUMN x int;\nINSERT INTO nope VALUES (1);", "SELECT 1;")
	var log bytes.Buffer
	m, err = migrate.New(db, fsys, migrate.WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Up(context.Background())
	var merr *migrate.Error
	if !errors.As(err, &merr) {
		t.Fatalf("Up error = %v, want *migrate.Error", err)
	}
	if merr.File != "00002_bad.sql" || !strings.Contains(err.Error(), `relation "nope" does not exist`) {
		t.Errorf("error %q should name 00002_bad.sql and PostgreSQL's message", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error should be one line: %q", err)
	}
	if after := snapshot(t, url); after != before {
		t.Errorf("schema or version table changed by a failed migration:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if log.Len() != 0 {
		t.Errorf("nothing was applied, yet logged: %s", log.String())
	}
}

// snapshot is the database's columns and version rows as text.
func snapshot(t *testing.T, url string) string {
	t.Helper()
	db := pgtest.SQLDB(t, url)
	rows, err := db.Query(`SELECT table_name || '.' || column_name || ' ' || data_type FROM information_schema.columns
		WHERE table_schema = 'public' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		b.WriteString(s + "\n")
	}
	vrows, err := db.Query("SELECT version_id, is_applied FROM goose_db_version ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer vrows.Close()
	for vrows.Next() {
		var v int64
		var ok bool
		if err := vrows.Scan(&v, &ok); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "version %d applied=%v\n", v, ok)
	}
	return b.String()
}

func TestUpLogsOneLineAndIsQuietWhenNothingPending(t *testing.T) {
	db := pgtest.SQLDB(t, pgtest.EmptyURL(t))
	var log bytes.Buffer
	m, err := migrate.New(db, counted(), migrate.WithLogger(slog.New(slog.NewJSONHandler(&log, nil))))
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Up(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.From != 0 || res.To != 5 || len(res.Applied) != 5 {
		t.Errorf("result %+v, want 0 -> 5 with 5 files", res)
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"msg":"migrations applied"`) ||
		!strings.Contains(lines[0], `"from":0`) || !strings.Contains(lines[0], `"to":5`) || !strings.Contains(lines[0], "00005_b_rows.sql") {
		t.Errorf("want one 'migrations applied' line with from/to/files, got:\n%s", log.String())
	}
	log.Reset()
	if res, err := m.Up(context.Background()); err != nil || len(res.Applied) != 0 {
		t.Fatalf("second Up: %+v, %v", res, err)
	}
	if log.Len() != 0 {
		t.Errorf("nothing pending should log nothing, got %s", log.String())
	}
}

func TestUpToDownDownToVersionStatus(t *testing.T) {
	ctx := context.Background()
	db := pgtest.SQLDB(t, pgtest.EmptyURL(t))
	m, err := migrate.New(db, counted())
	if err != nil {
		t.Fatal(err)
	}
	step := func(name string, f func() (migrate.Result, error), wantTo int64) {
		t.Helper()
		res, err := f()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.To != wantTo {
			t.Fatalf("%s: version %d, want %d", name, res.To, wantTo)
		}
		if v, _ := m.Version(ctx); v != wantTo {
			t.Fatalf("%s: Version() = %d, want %d", name, v, wantTo)
		}
	}
	step("up-to 3", func() (migrate.Result, error) { return m.UpTo(ctx, 3) }, 3)
	if p, _ := m.Pending(ctx); !p {
		t.Error("Pending at 3 of 5 = false")
	}
	step("down", func() (migrate.Result, error) { return m.Down(ctx) }, 2)
	step("up", func() (migrate.Result, error) { return m.Up(ctx) }, 5)
	if p, _ := m.Pending(ctx); p {
		t.Error("Pending at 5 of 5 = true")
	}
	st, err := m.Status(ctx)
	if err != nil || len(st) != 5 || string(st[4].State) != "applied" {
		t.Fatalf("status: %v %v", st, err)
	}
	step("down-to 1", func() (migrate.Result, error) { return m.DownTo(ctx, 1) }, 1)
	st, _ = m.Status(ctx)
	if string(st[0].State) != "applied" || string(st[1].State) != "pending" {
		t.Errorf("status after down-to 1: %s, %s", st[0].State, st[1].State)
	}
}

func TestLockWaitIsBounded(t *testing.T) {
	url := pgtest.EmptyURL(t)
	holder := pgtest.SQLDB(t, url)
	conn, err := holder.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "SELECT pg_advisory_lock($1)", migrate.LockID); err != nil {
		t.Fatal(err)
	}
	m, err := migrate.New(pgtest.SQLDB(t, url), counted(), migrate.WithLockWait(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Up(context.Background())
	if err == nil || !strings.Contains(err.Error(), "held the migration lock") {
		t.Errorf("Up while another session holds the lock: %v, want a lock wait error", err)
	}
}

func TestEmbeddedMigrationsApply(t *testing.T) {
	db := pgtest.SQLDB(t, pgtest.EmptyURL(t))
	m, err := migrate.New(db, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec("INSERT INTO users (email, password_hash, is_admin) VALUES ('a@example.com', 'x', true)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO users (email, password_hash) VALUES ('a@example.com', 'y')"); err == nil {
		t.Error("duplicate email accepted")
	}
	if _, err := db.Exec("INSERT INTO users (email, password_hash) VALUES ('B@example.com', 'y')"); err == nil {
		t.Error("non-normalised email accepted")
	}
}
