package dev

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Role is the role the app, resetDB, seed, fixMigrations and pullDB
// connect as to the local cluster's database, and that database's owner:
// a plain role, without SUPERUSER, CREATEDB, CREATEROLE, REPLICATION or
// BYPASSRLS, granted no other role (so none of pg_execute_server_program,
// pg_read_server_files, pg_write_server_files).
//
// What a database holds runs with the rights of whoever uses it: after
// pullDB it holds a production dump, the production app role's writing,
// and a function planted in a CHECK constraint, a trigger, a default or an
// index expression runs at the app's next insert. As the cluster's
// superuser that includes COPY ... TO PROGRAM, a shell on this machine.
// The superuser only administers the cluster: this role, creating and
// dropping databases.
const Role = "slipway_dev"

// roleAttributes turns off every right a planted function could abuse.
const roleAttributes = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT"

// pinned is the connection a superuser uses on the cluster: pg_catalog
// first and alone on the search path, whatever the database says, so no
// function or operator of the database's stands in for a built-in one.
func pinned(ctx context.Context, url string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["search_path"] = "pg_catalog"
	return pgx.ConnectConfig(ctx, cfg)
}

// prepare makes the local cluster ready for the app: Role exists and is
// plain, and database db exists, owned by Role. A database made by an
// older Slipway (owned by the superuser, as is everything in it) is handed
// to Role once. admin and adminDB are superuser URLs of the cluster's
// postgres database and of db.
func prepare(ctx context.Context, admin, adminDB, db string) error {
	conn, err := pinned(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to the local cluster as its superuser: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := plainRole(ctx, conn); err != nil {
		return err
	}
	var owner string
	err = conn.QueryRow(ctx, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", db).Scan(&owner)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		ident := pgx.Identifier{db}.Sanitize()
		_, err := conn.Exec(ctx, "CREATE DATABASE "+ident+" OWNER "+pgx.Identifier{Role}.Sanitize())
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "42P04" || pe.Code == "23505") {
			return nil // another `dev` starting at the same time made it, the same way
		}
		if err != nil {
			return fmt.Errorf("create database %s: %w", db, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("look up database %s: %w", db, err)
	case owner == Role:
		return nil
	}
	return adopt(ctx, adminDB, db)
}

// plainRole creates Role, or takes back any right it was given since.
func plainRole(ctx context.Context, conn *pgx.Conn) error {
	ident := pgx.Identifier{Role}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE ROLE "+ident+" "+roleAttributes); err != nil {
		var pe *pgconn.PgError
		// 23505: two `dev`s creating it at once.
		if !errors.As(err, &pe) || (pe.Code != "42710" && pe.Code != "23505") {
			return fmt.Errorf("create role %s: %w", Role, err)
		}
		if _, err := conn.Exec(ctx, "ALTER ROLE "+ident+" "+roleAttributes); err != nil {
			return fmt.Errorf("reset role %s: %w", Role, err)
		}
	}
	rows, err := conn.Query(ctx, `SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
		WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = $1) ORDER BY 1`, Role)
	if err != nil {
		return fmt.Errorf("read the roles granted to %s: %w", Role, err)
	}
	granted, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("read the roles granted to %s: %w", Role, err)
	}
	if len(granted) > 0 {
		list := strings.Join(granted, ", ")
		return fmt.Errorf("refusing: role %s, which the app connects to the local database as, was granted %s, and a function the database holds would run with those rights: REVOKE %s FROM %s as the cluster's superuser (psql -h .dev/pg/run -U postgres postgres), then run again", Role, list, list, Role)
	}
	return nil
}

// adopt hands database db and what it holds to Role, in one transaction:
// the upgrade of a .dev made by an older Slipway, where the superuser
// owned everything. Only ownership changes: ALTER ... OWNER runs none of
// the database's functions. Event triggers, which would, are disabled
// first: only a superuser can have made them (a pullDB of old).
func adopt(ctx context.Context, adminDB, db string) error {
	conn, err := pinned(ctx, adminDB)
	if err != nil {
		return fmt.Errorf("connect to database %s as the local cluster's superuser: %w", db, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, "SELECT format('ALTER EVENT TRIGGER %I DISABLE', evtname) FROM pg_event_trigger WHERE evtenabled <> 'D'")
	if err != nil {
		return fmt.Errorf("list the event triggers of %s: %w", db, err)
	}
	disable, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list the event triggers of %s: %w", db, err)
	}
	for _, stmt := range disable {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, ownedByOthers, Role)
		if err != nil {
			return fmt.Errorf("list what %s holds: %w", db, err)
		}
		stmts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("list what %s holds: %w", db, err)
		}
		stmts = append([]string{"ALTER DATABASE " + pgx.Identifier{db}.Sanitize() + " OWNER TO " + pgx.Identifier{Role}.Sanitize()}, stmts...)
		for _, stmt := range stmts {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				// Not resetDB: it starts here too.
				return fmt.Errorf("hand database %s to role %s (%s): %w: nothing changed; to start over with a new cluster, move .dev/pg aside (mv .dev/pg .dev/pg.old) and run again", db, Role, stmt, err)
			}
		}
		return nil
	})
}

// ownedByOthers lists the ALTER ... OWNER TO $1 statements that give $1
// the schemas, tables, views, sequences, functions and types of the
// current database that another role owns. Left out: the system schemas,
// objects belonging to an extension, what follows its table's owner
// (indexes, a serial's or identity's sequence, row and array types) and
// schemas owned by pg_database_owner (public, from PostgreSQL 15 on).
const ownedByOthers = `
WITH me AS (SELECT oid FROM pg_roles WHERE rolname = $1),
ns AS (
	SELECT oid, nspname, nspowner FROM pg_namespace
	WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
),
ext AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e')
SELECT format('ALTER SCHEMA %I OWNER TO %I', ns.nspname, $1) FROM ns
WHERE ns.nspowner <> (SELECT oid FROM me)
	AND ns.nspowner <> coalesce(to_regrole('pg_database_owner'), 0)
	AND NOT EXISTS (SELECT 1 FROM ext WHERE classid = 'pg_namespace'::regclass AND objid = ns.oid)
UNION ALL
SELECT format('ALTER %s %s OWNER TO %I', CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
	WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, c.oid::regclass, $1)
FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND c.relowner <> (SELECT oid FROM me)
	AND NOT EXISTS (SELECT 1 FROM ext WHERE classid = 'pg_class'::regclass AND objid = c.oid)
	AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
		AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
UNION ALL
SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, $1)
FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
WHERE p.proowner <> (SELECT oid FROM me)
	AND NOT EXISTS (SELECT 1 FROM ext WHERE classid = 'pg_proc'::regclass AND objid = p.oid)
UNION ALL
SELECT format('ALTER %s %s OWNER TO %I', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype, $1)
FROM pg_type t JOIN ns ON ns.oid = t.typnamespace
WHERE t.typowner <> (SELECT oid FROM me)
	AND (t.typtype IN ('d', 'e', 'r', 'm') OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
	AND NOT EXISTS (SELECT 1 FROM ext WHERE classid = 'pg_type'::regclass AND objid = t.oid)`
