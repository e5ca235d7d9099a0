package dev

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/slipway-dev/slipway/internal/pgcluster"
)

// query returns the first column of the first row of sql at url.
func query[T any](t *testing.T, url, sql string) T {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var v T
	if err := c.QueryRow(ctx, sql).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// superuserOn is db's Admin URL pointed at database name.
func superuserOn(t *testing.T, db *Database, name string) string {
	t.Helper()
	u, err := url.Parse(db.Admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// notOwnedByRole counts what the app can't alter in the current database:
// schemas, relations, routines and types another role owns (system schemas
// and what follows its table's owner left out).
const notOwnedByRole = `SELECT
	(SELECT count(*) FROM pg_namespace WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
		AND nspowner NOT IN (SELECT oid FROM pg_roles WHERE rolname IN ('` + Role + `', 'pg_database_owner')))
	+ (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema' AND pg_get_userbyid(c.relowner) <> '` + Role + `')
	+ (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema' AND pg_get_userbyid(p.proowner) <> '` + Role + `')
	+ (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
		WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema' AND pg_get_userbyid(t.typowner) <> '` + Role + `')`

// owners lists the owners of the app's routines and types, and of every
// schema, for a failure message.
const owners = `SELECT concat_ws(', ',
	(SELECT string_agg(p.oid::regprocedure::text || ' ' || pg_get_userbyid(proowner), ', ') FROM pg_proc p
		JOIN pg_namespace n ON n.oid = p.pronamespace WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'),
	(SELECT string_agg(t.oid::regtype::text || ' ' || pg_get_userbyid(typowner), ', ') FROM pg_type t
		JOIN pg_namespace n ON n.oid = t.typnamespace WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'),
	(SELECT string_agg(nspname || ' ' || pg_get_userbyid(nspowner), ', ') FROM pg_namespace))`

// TestTheAppConnectsToTheLocalDatabaseAsAPlainRole: URL, what `dev` hands
// the app, logs in as the database's owner, a role without any right a
// planted function could use to leave the database; Admin is the
// superuser, for creating and dropping databases.
func TestTheAppConnectsToTheLocalDatabaseAsAPlainRole(t *testing.T) {
	root := tempRoot(t)
	ctx := context.Background()
	db, err := LocalDatabase(ctx, root, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Release() })

	if got := query[string](t, db.URL, "SELECT current_user || ' owns ' || pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"); got != Role+" owns "+Role {
		t.Errorf("URL: %s, want %s owning the database", got, Role)
	}
	if rights := query[string](t, db.URL, `SELECT concat_ws(' ',
		CASE WHEN rolsuper THEN 'SUPERUSER' END, CASE WHEN rolcreaterole THEN 'CREATEROLE' END,
		CASE WHEN rolcreatedb THEN 'CREATEDB' END, CASE WHEN rolreplication THEN 'REPLICATION' END,
		CASE WHEN rolbypassrls THEN 'BYPASSRLS' END,
		CASE WHEN pg_has_role(current_user, 'pg_execute_server_program', 'USAGE') THEN 'pg_execute_server_program' END,
		CASE WHEN pg_has_role(current_user, 'pg_read_server_files', 'USAGE') THEN 'pg_read_server_files' END,
		CASE WHEN pg_has_role(current_user, 'pg_write_server_files', 'USAGE') THEN 'pg_write_server_files' END)
		FROM pg_roles WHERE rolname = current_user`); rights != "" {
		t.Errorf("the app's role holds %s", rights)
	}
	c, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, "RESET ROLE; COPY (SELECT 1) TO PROGRAM 'true'")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" {
		t.Errorf("COPY ... TO PROGRAM as the app: %v, want insufficient privilege (42501)", err)
	}
	// What the app's migrations do.
	exec1(t, db.URL, "CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY); ALTER TABLE t ADD COLUMN v text; CREATE EXTENSION IF NOT EXISTS pgcrypto")
	if !query[bool](t, db.Admin, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") {
		t.Errorf("Admin %s is not the superuser", db.Admin)
	}
}

// TestAnOlderDevIsHandedToThePlainRole: a .dev made by an older Slipway,
// where the superuser owns the database and everything in it, keeps
// working: LocalDatabase hands it all to Role once, without running any
// of its code as the superuser (an event trigger left by an old pullDB
// would have, on the first ALTER).
func TestAnOlderDevIsHandedToThePlainRole(t *testing.T) {
	root := tempRoot(t)
	ctx := context.Background()
	marker := filepath.Join(root, "event-trigger-ran")
	// The folder the server's user writes the marker into.
	if err := os.Chmod(root, 0o777); err != nil {
		t.Fatal(err)
	}
	// What the older LocalDatabase did: start the cluster, create the
	// database as the superuser, hand the app the superuser's URL.
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(root, ".dev", "pg")})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CreateDatabase(ctx, DatabaseName); err != nil {
		c.Stop()
		t.Fatal(err)
	}
	exec1(t, c.URL(DatabaseName), `
CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp DEFAULT now());
INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (1, true);
CREATE TYPE mood AS ENUM ('ok', 'meh');
CREATE DOMAIN email AS text CHECK (VALUE LIKE '%@%');
CREATE TYPE pair AS (a int, b int);
CREATE TYPE span AS RANGE (subtype = int4);
CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email email NOT NULL, mood mood);
INSERT INTO users (email) VALUES ('a@example.com');
CREATE FUNCTION user_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM public.users';
CREATE PROCEDURE noop() LANGUAGE sql AS 'SELECT 1';
CREATE AGGREGATE total(int) (sfunc = int4pl, stype = int);
CREATE VIEW user_emails AS SELECT email FROM users;
CREATE MATERIALIZED VIEW user_moods AS SELECT mood, count(*) FROM users GROUP BY mood;
CREATE SEQUENCE invoice_numbers;
CREATE SCHEMA extra;
CREATE TABLE extra.notes (id serial PRIMARY KEY, body text);
CREATE FUNCTION planted_et() RETURNS event_trigger LANGUAGE plpgsql AS $f$
BEGIN
	EXECUTE 'COPY (SELECT 1) TO PROGRAM ' || quote_literal('touch `+marker+`');
END $f$;
CREATE EVENT TRIGGER planted_et ON ddl_command_start EXECUTE FUNCTION planted_et();`)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}

	db, err := LocalDatabase(ctx, root, noEnv)
	if err != nil {
		t.Fatalf("an older .dev: %v", err)
	}
	t.Cleanup(func() { db.Release() })
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("handing the database over ran its event trigger as the superuser")
	}
	if n := query[int64](t, superuserOn(t, db, DatabaseName), notOwnedByRole); n != 0 {
		t.Errorf("%d objects still owned by another role than %s: %s", n, Role, query[string](t, superuserOn(t, db, DatabaseName), owners))
	}
	// The app, as Role: its data, its next migration, its goose table.
	exec1(t, db.URL, `
INSERT INTO users (email, mood) VALUES ('b@example.com', 'ok');
ALTER TABLE users ADD COLUMN name text;
INSERT INTO goose_db_version (version_id, is_applied) VALUES (2, true);
INSERT INTO extra.notes (body) VALUES ('x');
SELECT nextval('invoice_numbers');
REFRESH MATERIALIZED VIEW user_moods;
CREATE OR REPLACE VIEW user_emails AS SELECT email, name FROM users;
ALTER DOMAIN email DROP CONSTRAINT IF EXISTS nothing;
ALTER TYPE mood ADD VALUE 'great';
DROP FUNCTION user_count(); DROP PROCEDURE noop(); DROP AGGREGATE total(int); DROP TYPE pair; DROP TYPE span`)
	if n := query[int64](t, db.URL, "SELECT user_count FROM (SELECT count(*) AS user_count FROM users) u"); n != 2 {
		t.Errorf("%d users, want 2", n)
	}
	if got := query[string](t, db.URL, "SELECT current_user"); got != Role {
		t.Errorf("the app connects as %s", got)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the event trigger is still enabled")
	}

	// Once: a later start finds the database already Role's.
	if err := db.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := LocalDatabase(ctx, root, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Release() })
	if n := query[int64](t, again.URL, "SELECT count(*) FROM users"); n != 2 {
		t.Errorf("after a restart: %d users, want 2", n)
	}
}

// TestTheLocalRoleLosesTheRightsGivenSince: a right given to Role by hand
// is taken back at the next start, and a role granted to it (it might be
// pg_execute_server_program) is refused in one line saying how to revoke
// it.
func TestTheLocalRoleLosesTheRightsGivenSince(t *testing.T) {
	root := tempRoot(t)
	ctx := context.Background()
	db, err := LocalDatabase(ctx, root, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Release() })
	exec1(t, db.Admin, "ALTER ROLE "+Role+" SUPERUSER CREATEDB CREATEROLE")
	second, err := LocalDatabase(ctx, root, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	second.Release()
	if query[bool](t, db.URL, "SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles WHERE rolname = current_user") {
		t.Errorf("%s kept the rights given by hand", Role)
	}

	exec1(t, db.Admin, "GRANT pg_execute_server_program TO "+Role)
	_, err = LocalDatabase(ctx, root, noEnv)
	if err == nil || !strings.Contains(err.Error(), "REVOKE pg_execute_server_program FROM "+Role) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("got %v, want one line saying to revoke pg_execute_server_program", err)
	}
	t.Logf("LocalDatabase: %v", err)
}
