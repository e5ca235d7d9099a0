package devdb

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/slipway-dev/slipway/internal/dev"
	"github.com/slipway-dev/slipway/internal/pgtest"
)

// markerDir is a folder the server's OS user can write into: where a
// planted COPY ... TO PROGRAM would leave its marker.
func markerDir(t *testing.T) string { return osUserDir(t, "pulldb-marker-", 0o777) }

// osUserDir is a temporary folder of that mode, outside t.TempDir (which is
// private to root), so that the PostgreSQL server's OS user reaches it.
func osUserDir(t *testing.T, prefix string, mode os.FileMode) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

// plant is what a compromised production app role can do with the
// rights it has: functions used by a CHECK constraint, an index
// expression, a generated column and a trigger, each running a program when the
// one executing it may (a superuser restoring the dump), and quiet
// otherwise, so production never notices. Each first undoes a
// pg_restore --role= (RESET ROLE), the way around that half-measure.
func plant(dir string) string {
	var b strings.Builder
	// Index expressions and generated columns take only IMMUTABLE
	// functions, which may not RESET or COPY themselves but may call a
	// function that does.
	fmt.Fprintf(&b, `
CREATE FUNCTION planted_run(tag text) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
	BEGIN
		RESET ROLE;
	EXCEPTION WHEN others THEN NULL; -- refused while building an index
	END;
	EXECUTE 'COPY (SELECT 1) TO PROGRAM ' || quote_literal('touch %s/' || tag);
EXCEPTION WHEN others THEN NULL;
END $f$;
`, dir)
	for _, where := range []string{"check", "index", "generated"} {
		fmt.Fprintf(&b, `
CREATE FUNCTION planted_%[1]s(x bigint) RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN
	PERFORM public.planted_run('%[1]s');
	RETURN x;
END $f$;
`, where)
	}
	b.WriteString(`
CREATE TABLE notes (
	id   bigint PRIMARY KEY CHECK (planted_check(id) > 0),
	body text,
	twin bigint GENERATED ALWAYS AS (planted_generated(id)) STORED
);
CREATE INDEX notes_planted ON notes ((planted_index(id)));
CREATE FUNCTION planted_trigger() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
	PERFORM public.planted_run('trigger');
	RETURN NEW;
END $f$;
CREATE TRIGGER notes_planted BEFORE INSERT ON notes FOR EACH ROW EXECUTE FUNCTION planted_trigger();
INSERT INTO notes (id, body) VALUES (1, 'hello'), (2, 'world');
`)
	return b.String()
}

func markers(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestPullDBOfAPlantedDumpRunsNoProgramOnThisMachine performs issue 25's
// item 1: a production dump holding functions that run COPY ... TO
// PROGRAM whenever a superuser executes them, restored by Load.
func TestPullDBOfAPlantedDumpRunsNoProgramOnThisMachine(t *testing.T) {
	ctx := context.Background()
	dir := markerDir(t)
	src := pgtest.URL(t)
	exec1(t, src, plant(dir))
	// The test's "production" connects as a superuser, so the INSERT ran
	// the programs here already; production's app role couldn't have.
	for _, n := range markers(t, dir) {
		os.Remove(filepath.Join(dir, n))
	}
	dump := dumpOf(t, src)
	dst := pgtest.URL(t)
	v, err := Load(ctx, dst, dst, dump)
	if m := markers(t, dir); len(m) > 0 {
		t.Fatalf("the restore ran the planted programs (%s): code execution on the developer's machine (Load: v%d, %v)", strings.Join(m, ", "), v, err)
	}
	if err != nil {
		t.Fatalf("the planted functions fail quietly without the right, so the restore should succeed: %v", err)
	}
	if n := rows(t, dst, "SELECT count(*) FROM notes"); n != 2 {
		t.Errorf("%d notes restored, want 2", n)
	}
	if n := rows(t, dst, "SELECT count(*) FROM pg_roles r JOIN pg_database d ON d.datdba = r.oid WHERE d.datname = current_database() AND NOT r.rolsuper AND NOT r.rolcreaterole"); n != 1 {
		t.Errorf("the restored database is not owned by a plain role")
	}
	// Read as the restore role: a view planted under goose's table name
	// would otherwise run as the superuser reading the version.
	if v < 1 {
		t.Errorf("version %d", v)
	}
}

// TestADevSessionAfterPullingAPlantedDumpRunsNoProgram performs the rest
// of issue 25's item 1: the planted dump is pulled into the .dev cluster,
// then the app, connected the way `dev` connects it (dev.LocalDatabase's
// URL), inserts a row into the planted table. Whatever the restore ran as,
// the CHECK, index, generated column and trigger now run as the app's role:
// if that is the cluster's superuser, the attack merely waits for the
// first insert of the next dev session.
func TestADevSessionAfterPullingAPlantedDumpRunsNoProgram(t *testing.T) {
	ctx := context.Background()
	dir := markerDir(t)
	src := pgtest.URL(t)
	exec1(t, src, plant(dir))
	for _, n := range markers(t, dir) {
		os.Remove(filepath.Join(dir, n))
	}
	dump := dumpOf(t, src)
	root := devRoot(t)
	// Held for the whole test: pullDB reuses the running cluster.
	local, err := dev.LocalDatabase(ctx, root, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Release() })
	var out bytes.Buffer
	err = PullDB(ctx, Options{Root: root, Getenv: noEnv, Stdout: &out}, func(dst string) (string, error) {
		b, err := os.ReadFile(dump)
		if err != nil {
			return "", err
		}
		return "the planted dump", os.WriteFile(dst, b, 0o600)
	})
	if m := markers(t, dir); len(m) > 0 {
		t.Fatalf("pullDB ran the planted programs (%s)", strings.Join(m, ", "))
	}
	if err != nil {
		t.Fatalf("pullDB: %v", err)
	}
	// The app's first write of the next dev session.
	exec1(t, local.URL, "INSERT INTO notes (id, body) VALUES (3, 'written by the app under dev')")
	if m := markers(t, dir); len(m) > 0 {
		t.Fatalf("the dev session ran the planted programs (%s): code execution on the developer's machine, one insert after pullDB (dev connects as %s)", strings.Join(m, ", "), roleOf(t, local.URL))
	}
	if n := rows(t, local.URL, "SELECT count(*) FROM notes"); n != 3 {
		t.Errorf("%d notes, want 3", n)
	}
	t.Logf("dev connects as %s; %s", roleOf(t, local.URL), strings.TrimSpace(out.String()))
}

// TestPullDBsErrorQuotesNoRowOfTheDump performs the pullDB half of issue
// 25's item 11: a restore that fails on a row (here a CHECK that reads a
// table restored later, a classic) must not print the row: pullDB's
// output ends up in terminals, CI logs and issue reports.
func TestPullDBsErrorQuotesNoRowOfTheDump(t *testing.T) {
	const secret = "secret-row-data@example.com"
	src := pgtest.URL(t)
	exec1(t, src, `
CREATE TABLE zz_domains (domain text PRIMARY KEY);
INSERT INTO zz_domains VALUES ('example.com');
CREATE FUNCTION known_domain(email text) RETURNS boolean LANGUAGE sql AS
	$$ SELECT EXISTS (SELECT 1 FROM public.zz_domains WHERE domain = split_part(email, '@', 2)) $$;
CREATE TABLE contacts (id bigint PRIMARY KEY, email text CHECK (known_domain(email)));
INSERT INTO contacts VALUES (1, '`+secret+`');`)
	dump := dumpOf(t, src)
	dst := pgtest.URL(t)
	exec1(t, dst, "INSERT INTO users (email, password_hash) VALUES ('kept@example.com', 'x')")
	_, err := Load(context.Background(), dst, dst, dump)
	if n := rows(t, dst, "SELECT count(*) FROM users WHERE email = 'kept@example.com'"); n != 1 {
		t.Errorf("the failed pull changed the local database")
	}
	if err == nil {
		t.Fatal("the restore succeeded: the fault to test did not happen")
	}
	t.Logf("pullDB: %v", err)
	if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "secret-row-data") {
		t.Errorf("pullDB's error quotes a row of the dump:\n%v", err)
	}
	for _, want := range []string{"contacts", "check constraint"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error doesn't name %q: %v", want, err)
		}
	}
	if strings.Count(err.Error(), "\n") > 0 {
		t.Errorf("want one line, got:\n%v", err)
	}
}

// TestPullDBRefusesADumpThatNeedsASuperuser: what only a superuser may
// restore is refused in one line naming it, before the local database is
// touched, and never retried as the superuser.
func TestPullDBRefusesADumpThatNeedsASuperuser(t *testing.T) {
	for _, c := range []struct{ name, sql, want string }{
		{"event trigger", `CREATE FUNCTION planted_et() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
CREATE EVENT TRIGGER planted_et ON ddl_command_start EXECUTE FUNCTION planted_et();`, "EVENT TRIGGER planted_et"},
		{"untrusted extension", `CREATE EXTENSION pg_stat_statements;`, "EXTENSION pg_stat_statements"},
		// Not recognised from the list: refused when the restore fails.
		{"internal function", `CREATE FUNCTION planted_abs(int4) RETURNS int4 LANGUAGE internal STRICT IMMUTABLE AS 'int4abs';`, "CREATE FUNCTION public.planted_abs(integer)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := pgtest.URL(t)
			exec1(t, src, c.sql)
			dump := dumpOf(t, src)
			dst := pgtest.URL(t)
			exec1(t, dst, "INSERT INTO users (email, password_hash) VALUES ('kept@example.com', 'x')")
			_, err := Load(context.Background(), dst, dst, dump)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "superuser") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line naming %s as needing a superuser", err, c.want)
			}
			t.Logf("pullDB: %v", err)
			if n := rows(t, dst, "SELECT count(*) FROM users WHERE email = 'kept@example.com'"); n != 1 {
				t.Errorf("the refused pull changed the local database")
			}
		})
	}
}

// TestTheRestoreRolesPasswordIsStoredAsPostgreSQLWouldHashIt: the
// password is sent as its SCRAM verifier (no statement log shows it), so
// the verifier must be the one PostgreSQL computes itself.
func TestTheRestoreRolesPasswordIsStoredAsPostgreSQLWouldHashIt(t *testing.T) {
	url := pgtest.URL(t)
	role := fmt.Sprintf("scram_check_%d", os.Getpid())
	exec1(t, url, "SET password_encryption = 'scram-sha-256'; CREATE ROLE "+role+" PASSWORD 'pencil'")
	t.Cleanup(func() { exec1(t, url, "DROP ROLE "+role) })
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var stored string
	if err := conn.QueryRow(context.Background(), "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	// SCRAM-SHA-256$4096:<salt>$<stored key>:<server key>
	_, rest, _ := strings.Cut(stored, ":")
	b64salt, _, _ := strings.Cut(rest, "$")
	salt, err := base64.StdEncoding.DecodeString(b64salt)
	if err != nil {
		t.Fatalf("%q: %v", stored, err)
	}
	got, err := scramVerifier("pencil", salt)
	if err != nil || got != stored {
		t.Errorf("scramVerifier = %q, %v\nPostgreSQL stores %q", got, err, stored)
	}
}

func noEnv(string) string { return "" }

// devRoot is a repository root for a .dev cluster: a folder the server's
// OS user can enter.
func devRoot(t *testing.T) string { return osUserDir(t, "devdb-root-", 0o755) }

// roleOf describes the role url logs in as: its name and whether it is a
// superuser.
func roleOf(t *testing.T, url string) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var name string
	var super bool
	if err := conn.QueryRow(context.Background(), "SELECT rolname, rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&name, &super); err != nil {
		t.Fatal(err)
	}
	if super {
		return name + " (superuser)"
	}
	return name + " (plain)"
}

// TestResetDBSeedAndFixOnTheDevClusterRunAsThePlainRole: without
// DATABASE_URL, the tools that run the app's SQL (migrations, seed, goose's
// rows) do it as dev.Role, which owns what they create.
func TestResetDBSeedAndFixOnTheDevClusterRunAsThePlainRole(t *testing.T) {
	ctx := context.Background()
	root := devRoot(t)
	local, err := dev.LocalDatabase(ctx, root, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Release() })
	var out bytes.Buffer
	o := Options{Root: root, Dir: filepath.Join("..", "..", "migrations"), Getenv: noEnv, Stdout: &out}
	if err := ResetDB(ctx, o); err != nil {
		t.Fatalf("resetDB: %v", err)
	}
	if err := Seed(ctx, o); err != nil {
		t.Fatalf("seed: %v", err)
	}
	if err := Fix(ctx, o, false); err != nil {
		t.Fatalf("fixMigrations: %v", err)
	}
	if n := rows(t, local.URL, "SELECT count(*) FROM users"); n != 3 {
		t.Errorf("%d users seeded, want 3\n%s", n, out.String())
	}
	others := rows(t, local.URL, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) <> '`+dev.Role+`'`)
	owner := rows(t, local.URL, `SELECT count(*) FROM pg_database WHERE datname = current_database() AND pg_get_userbyid(datdba) = '`+dev.Role+`'`)
	if others != 0 || owner != 1 {
		t.Errorf("%d relations owned by another role than %s; database owned by it: %v", others, dev.Role, owner == 1)
	}
}
