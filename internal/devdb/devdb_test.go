package devdb

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/migfiles"
	"github.com/slipway-dev/slipway/internal/migfiles/migfilestest"
	"github.com/slipway-dev/slipway/internal/migrate"
	"github.com/slipway-dev/slipway/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// Two migrations developed on a branch, on top of the repository's first.
const (
	addOrders = `-- +goose Up
CREATE TABLE orders (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id)
);

-- +goose Down
DROP TABLE orders;
`
	addOrderTotal = `-- +goose Up
SET lock_timeout = '2s';
ALTER TABLE orders ADD COLUMN total_cents bigint;

-- +goose Down
ALTER TABLE orders DROP COLUMN total_cents;
`
	tsOrders = "20260101100000_add_orders.sql"
	tsTotal  = "20260102100000_add_order_total.sql"
)

// tree makes a migrations folder: the repository's 00001 file with its
// hash recorded in migrations.sum, plus extra files (name → content).
func tree(t *testing.T, extra map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "migrations", "00001_create_users.sql"))
	if err != nil {
		t.Fatal(err)
	}
	// The embed file sits in the real folder too: goose must skip it.
	dir := migfilestest.Folder(t, map[string]string{"00001_create_users.sql": string(b), "migrations.go": "package migrations\n"})
	p, err := migfiles.PlanFix(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(nil); err != nil {
		t.Fatal(err)
	}
	for name, content := range extra {
		write(t, filepath.Join(dir, name), content)
	}
	return dir
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// applied is a migrations folder holding files, and a fresh database that
// applied them: where a branch's developer stands before fixMigrations.
func applied(t *testing.T, files map[string]string) (dir, url string, db *sql.DB) {
	t.Helper()
	dir = tree(t, files)
	url = pgtest.EmptyURL(t)
	db = pgtest.SQLDB(t, url)
	migrateUp(t, db, dir)
	return dir, url, db
}

// unchanged fails the test unless dir still holds the files before and db
// the version rows rowsBefore: a refusal changed nothing.
func unchanged(t *testing.T, dir string, db *sql.DB, before []string, rowsBefore []int64) {
	t.Helper()
	if after := migfilestest.Names(t, dir); !slices.Equal(before, after) {
		t.Errorf("folder changed: %v -> %v", before, after)
	}
	if got := versions(t, db); !slices.Equal(got, rowsBefore) {
		t.Errorf("rows changed: %v -> %v", rowsBefore, got)
	}
}

// opts points the targets at dbURL (as DATABASE_URL) and dir.
func opts(t *testing.T, dbURL, dir string, env ...string) (Options, *bytes.Buffer) {
	t.Helper()
	vars := map[string]string{"DATABASE_URL": dbURL}
	for i := 0; i+1 < len(env); i += 2 {
		vars[env[i]] = env[i+1]
	}
	var out bytes.Buffer
	return Options{Root: t.TempDir(), Dir: dir, Getenv: func(k string) string { return vars[k] }, Stdout: &out}, &out
}

// migrateUp applies dir's migrations to dbURL, as `dev` does at startup.
func migrateUp(t *testing.T, db *sql.DB, dir string) *migrate.Migrator {
	t.Helper()
	m, err := migrate.New(db, os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

func versions(t *testing.T, db *sql.DB) []int64 {
	t.Helper()
	rows, err := db.Query("SELECT version_id FROM goose_db_version WHERE version_id > 0 ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		rows.Scan(&v)
		out = append(out, v)
	}
	return out
}

func count(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// unreachable is a DATABASE_URL nothing listens on: a target that used it
// would fail.
const unreachable = "postgres://postgres@127.0.0.1:1/slipway?sslmode=disable&connect_timeout=1"

func TestFixOnACleanTreeChangesNothingAndSaysSo(t *testing.T) {
	dir := tree(t, nil)
	before := migfilestest.Names(t, dir)
	o, out := opts(t, unreachable, dir)
	if err := Fix(context.Background(), o, false); err != nil {
		t.Fatalf("Fix = %v (the database must not even be opened)", err)
	}
	if !strings.Contains(out.String(), "nothing to do") {
		t.Errorf("output: %q", out)
	}
	if after := migfilestest.Names(t, dir); !slices.Equal(before, after) {
		t.Errorf("folder changed: %v -> %v", before, after)
	}
}

func TestFixNumbersMixedIDsOnAFreshDatabase(t *testing.T) {
	dir := tree(t, map[string]string{tsOrders: addOrders, tsTotal: addOrderTotal})
	o, out := opts(t, pgtest.EmptyURL(t), dir)
	if err := Fix(context.Background(), o, false); err != nil {
		t.Fatal(err)
	}
	if got := migfilestest.Names(t, dir); !slices.Equal(got, []string{"00001_create_users.sql", "00002_add_orders.sql", "00003_add_order_total.sql", "migrations.go", migfiles.SumFile}) {
		t.Fatalf("folder: %v", got)
	}
	for _, want := range []string{tsOrders + " -> 00002_add_orders.sql", "migrations.sum: recorded 00002_add_orders.sql, 00003_add_order_total.sql", "nothing to remap (no goose_db_version table"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	problems, err := migfiles.Check(context.Background(), dir)
	if err != nil || len(problems) > 0 {
		t.Errorf("checkMigrations after fix: %v %v", problems, err)
	}
}

func TestFixRemapsVersionsTheDatabaseApplied(t *testing.T) {
	ctx := context.Background()
	dir, url, db := applied(t, map[string]string{tsOrders: addOrders, tsTotal: addOrderTotal})
	if _, err := db.Exec(`INSERT INTO users (email, password_hash) VALUES ('dev@example.com', 'x');
		INSERT INTO orders (user_id, total_cents) SELECT id, 1250 FROM users`); err != nil {
		t.Fatal(err)
	}

	o, out := opts(t, url, dir)
	if err := Fix(ctx, o, false); err != nil {
		t.Fatal(err)
	}
	if got := versions(t, db); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("goose_db_version = %v, want 1 2 3", got)
	}
	for _, want := range []string{"remapped 2 applied versions", "20260101100000 -> 2 (00002_add_orders.sql)", "20260102100000 -> 3 (00003_add_order_total.sql)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The app starts on it: nothing pending, version 3, the data kept.
	m, err := migrate.New(db, os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	if pending, err := m.Pending(ctx); err != nil || pending {
		t.Fatalf("Pending = %v, %v after the fix", pending, err)
	}
	if res, err := m.Up(ctx); err != nil || len(res.Applied) != 0 {
		t.Fatalf("Up = %+v, %v", res, err)
	}
	if v, _ := m.Version(ctx); v != 3 {
		t.Errorf("version %d, want 3", v)
	}
	var total int64
	if err := db.QueryRow("SELECT total_cents FROM orders").Scan(&total); err != nil || total != 1250 {
		t.Errorf("order lost: %d %v", total, err)
	}

	// Idempotent: a second run changes nothing and says so.
	before := migfilestest.Names(t, dir)
	o, out = opts(t, url, dir)
	if err := Fix(ctx, o, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "nothing to do") {
		t.Errorf("second run: %q", out)
	}
	if after := migfilestest.Names(t, dir); !slices.Equal(before, after) {
		t.Errorf("second run changed the folder: %v -> %v", before, after)
	}
	if got := versions(t, db); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("second run changed goose_db_version: %v", got)
	}

	// Now numbered, the files are recorded: editing one is caught.
	f, _ := os.OpenFile(filepath.Join(dir, "00002_add_orders.sql"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("-- an edit after numbering\n")
	f.Close()
	problems, err := migfiles.Check(ctx, dir)
	if err != nil || len(problems) != 1 || !strings.HasSuffix(problems[0].File, "00002_add_orders.sql") || !strings.Contains(problems[0].Msg, "edited after it was numbered") {
		t.Errorf("checkMigrations after an edit: %v %v", problems, err)
	}
}

func TestFixRefusesRowsItCannotMapAndPointsToResetDB(t *testing.T) {
	ctx := context.Background()
	dir, url, db := applied(t, map[string]string{tsOrders: addOrders})
	// A version applied from another branch, whose file isn't here.
	if _, err := db.Exec("INSERT INTO goose_db_version (version_id, is_applied) VALUES (20251231000000, true)"); err != nil {
		t.Fatal(err)
	}
	before, rowsBefore := migfilestest.Names(t, dir), versions(t, db)

	o, _ := opts(t, url, dir)
	err := Fix(ctx, o, false)
	if err == nil || !strings.Contains(err.Error(), "version 20251231000000 is applied but no migration file has it") || !strings.Contains(err.Error(), "resetDB") {
		t.Fatalf("Fix = %v, want the unknown version and resetDB", err)
	}
	unchanged(t, dir, db, before, rowsBefore)
}

func TestFixRefusesAHoleAfterNumbering(t *testing.T) {
	// main merged 00002 while the branch had applied its timestamp version:
	// once numbered 00003 is applied but 00002 isn't.
	ctx := context.Background()
	dir, url, _ := applied(t, map[string]string{tsOrders: addOrders})
	write(t, filepath.Join(dir, "00002_from_main.sql"), "-- +goose Up\nSELECT 1;\n")
	o, _ := opts(t, url, dir, "APP_ENV", "development")
	err := Fix(ctx, o, true)
	if err == nil || !strings.Contains(err.Error(), "00002_from_main.sql is not applied but 00003_add_orders.sql") {
		t.Fatalf("Fix = %v", err)
	}
	if _, statErr := os.Stat(filepath.Join(dir, tsOrders)); statErr != nil {
		t.Error("file renamed despite the refusal")
	}
}

func TestFixReportsDuplicatesAndBadNamesTogetherAndChangesNothing(t *testing.T) {
	ctx := context.Background()
	dir, url, db := applied(t, map[string]string{tsOrders: addOrders})
	write(t, filepath.Join(dir, "20260101100000_add_items.sql"), addOrderTotal) // same version as tsOrders
	write(t, filepath.Join(dir, "add orders.sql"), addOrderTotal)
	before, rowsBefore := migfilestest.Names(t, dir), versions(t, db)

	o, _ := opts(t, url, dir)
	err := Fix(ctx, o, false)
	var pe *migfiles.ProblemsError
	if !errors.As(err, &pe) || len(pe.Problems) != 2 {
		t.Fatalf("Fix = %v, want both problems in one list", err)
	}
	for _, want := range []string{"version 20260101100000 is also used by", "add orders.sql: file name does not parse"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	unchanged(t, dir, db, before, rowsBefore)
}

func TestFixRemapRefusedForProductionUnlessForced(t *testing.T) {
	ctx := context.Background()
	dir, url, db := applied(t, map[string]string{tsOrders: addOrders})
	o, _ := opts(t, url, dir, "APP_ENV", "production")
	if err := Fix(ctx, o, false); err == nil || !strings.Contains(err.Error(), "APP_ENV=production") {
		t.Fatalf("Fix = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, tsOrders)); err != nil {
		t.Fatal("renamed despite the refusal")
	}
	o.Force = true
	if err := Fix(ctx, o, false); err != nil {
		t.Fatal(err)
	}
	if got := versions(t, db); !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("versions %v", got)
	}
}

func TestResetDBDropsCreatesAndMigrates(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	db := pgtest.SQLDB(t, url)
	if _, err := db.Exec("INSERT INTO users (email, password_hash) VALUES ('old@example.com', 'x')"); err != nil {
		t.Fatal(err)
	}
	// Another session on it, as a running `dev` would hold.
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dir := tree(t, map[string]string{tsOrders: addOrders})

	o, out := opts(t, url, dir)
	if err := ResetDB(ctx, o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "migrated to version 20260101100000 (2 migrations applied)") {
		t.Errorf("output: %q", out)
	}
	fresh := pgtest.SQLDB(t, url)
	if n := count(t, fresh, "users"); n != 0 {
		t.Errorf("%d users after reset", n)
	}
	if n := count(t, fresh, "orders"); n != 0 {
		t.Errorf("%d orders after reset", n)
	}
}

func TestResetDBRefusesANonLocalHost(t *testing.T) {
	for _, host := range []string{"db.example.com", "10.0.0.5", "[2001:db8::1]"} {
		o, _ := opts(t, "postgres://app@"+host+":5432/slipway?connect_timeout=1", t.TempDir())
		err := ResetDB(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), "not this machine") || !strings.Contains(err.Error(), "-force") {
			t.Errorf("%s: ResetDB = %v, want a refusal naming -force", host, err)
		}
	}
}

func TestResetDBRefusedChangesNothing(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	db := pgtest.SQLDB(t, url)
	if _, err := db.Exec("INSERT INTO users (email, password_hash) VALUES ('keep@example.com', 'x')"); err != nil {
		t.Fatal(err)
	}
	o, _ := opts(t, url, tree(t, nil), "APP_ENV", "production")
	if err := ResetDB(ctx, o); err == nil || !strings.Contains(err.Error(), "APP_ENV=production") {
		t.Fatalf("ResetDB = %v", err)
	}
	if n := count(t, db, "users"); n != 1 {
		t.Errorf("%d users after a refused reset, want 1", n)
	}
}

func TestSeedIsIdempotentAndFollowsResetDB(t *testing.T) {
	ctx := context.Background()
	url := pgtest.EmptyURL(t)
	dir := tree(t, nil)
	o, out := opts(t, url, dir)
	if err := ResetDB(ctx, o); err != nil {
		t.Fatal(err)
	}
	if err := Seed(ctx, o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "3 rows added, users 3") {
		t.Errorf("first seed: %q", out)
	}
	out.Reset()
	if err := Seed(ctx, o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "0 rows added") {
		t.Errorf("second seed: %q", out)
	}
	db := pgtest.SQLDB(t, url)
	if n := count(t, db, "users"); n != 3 {
		t.Errorf("%d users, want 3", n)
	}
	var admins int
	db.QueryRow("SELECT count(*) FROM users WHERE is_admin AND password_hash = $1", NoLogin).Scan(&admins)
	if admins != 1 {
		t.Errorf("%d seeded admins without a login secret, want 1", admins)
	}
}

func TestSeedRefusesProductionAndPendingMigrations(t *testing.T) {
	ctx := context.Background()
	url := pgtest.EmptyURL(t)
	o, _ := opts(t, url, tree(t, nil), "APP_ENV", "production")
	if err := Seed(ctx, o); err == nil || !strings.Contains(err.Error(), "APP_ENV=production") {
		t.Fatalf("Seed = %v", err)
	}
	o, _ = opts(t, url, tree(t, nil))
	if err := Seed(ctx, o); err == nil || !strings.Contains(err.Error(), "pending migrations") {
		t.Fatalf("Seed on an unmigrated database = %v", err)
	}
}

func TestIsLocalHost(t *testing.T) {
	for host, want := range map[string]bool{
		"/var/run/postgresql": true, "localhost": true, "LOCALHOST": true, "127.0.0.1": true, "127.8.9.10": true,
		"::1": true, "[::1]": true, "db.example.com": false, "10.0.0.1": false, "localhost.example.com": false, "": false,
	} {
		if got := IsLocalHost(host); got != want {
			t.Errorf("IsLocalHost(%q) = %v", host, got)
		}
	}
}

func TestGuardForce(t *testing.T) {
	getenv := func(string) string { return "production" }
	if err := Guard("postgres://db.example.com/x", getenv, true); err != nil {
		t.Errorf("-force: %v", err)
	}
	if err := Guard("postgres://db.example.com/x", getenv, false); err == nil {
		t.Error("no refusal without -force")
	}
	if err := Guard("postgres://localhost/x", func(string) string { return "" }, false); err != nil {
		t.Errorf("localhost refused: %v", err)
	}
}

func TestBadDatabaseURLNeverEchoesThePassword(t *testing.T) {
	bad := "postgres://app:hunter2@secret:part@localhost:notaport/db"
	for name, err := range map[string]error{
		"Guard": Guard(bad, func(string) string { return "" }, false),
		"Reset": func() error { _, err := Reset(context.Background(), bad, bad, t.TempDir()); return err }(),
	} {
		if err == nil || !strings.HasPrefix(err.Error(), "DATABASE_URL is not a valid") {
			t.Errorf("%s: %v, want the DATABASE_URL message", name, err)
			continue
		}
		for _, part := range []string{"hunter2", "secret", "part"} {
			if strings.Contains(err.Error(), part) {
				t.Errorf("%s: password part %q in %v", name, part, err)
			}
		}
	}
}

// An app's own seed file (targets.Project.Seed) runs in one transaction
// and, written with ON CONFLICT DO NOTHING, adds nothing the second time;
// a failing statement leaves nothing of the file behind.
func TestSeedFileRunsTheAppsStatementsIdempotently(t *testing.T) {
	ctx := context.Background()
	url := pgtest.EmptyURL(t)
	o, out := opts(t, url, tree(t, nil))
	if err := ResetDB(ctx, o); err != nil {
		t.Fatal(err)
	}
	o.SeedFile = filepath.Join(t.TempDir(), "seed.sql")
	sql := "INSERT INTO users (email, password_hash) VALUES ('shop@example.com', '!x') ON CONFLICT (email) DO NOTHING;\n" +
		"INSERT INTO users (email, password_hash) VALUES ('shop2@example.com', '!x') ON CONFLICT (email) DO NOTHING;\n"
	if err := os.WriteFile(o.SeedFile, []byte(sql), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := Seed(ctx, o); err != nil || !strings.Contains(out.String(), "2 rows added from "+o.SeedFile) {
		t.Fatalf("first seed: %v %q", err, out)
	}
	out.Reset()
	if err := Seed(ctx, o); err != nil || !strings.Contains(out.String(), "0 rows added") {
		t.Fatalf("second seed: %v %q", err, out)
	}
	if err := os.WriteFile(o.SeedFile, []byte("INSERT INTO users (email, password_hash) VALUES ('third@example.com', '!x');\nSELECT nope;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Seed(ctx, o); err == nil {
		t.Fatal("a failing seed file passed")
	}
	if n := count(t, pgtest.SQLDB(t, url), "users"); n != 2 {
		t.Errorf("%d users after a failed seed file, want 2: not one transaction", n)
	}
}
