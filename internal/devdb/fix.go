package devdb

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/slipway-dev/slipway/internal/migfiles"
	"github.com/slipway-dev/slipway/internal/migrate"
)

// Move is one row group of goose's version table remapped by Fix.
type Move struct {
	File     string // the migration's new name
	From, To int64
}

// Fix is fixMigrations: it numbers the timestamp migrations of o.Dir the way
// goose's fix does (migfiles.PlanFix) and, where the local database already
// applied them, rewrites their rows in goose_db_version to the new numbers,
// so the developer keeps the database and its data.
//
// All or nothing: file problems and database rows that can't be mapped
// safely are reported before anything changes. The database rows are
// updated in a transaction that commits only after every file is renamed;
// a failed commit renames the files back (see migfiles.Plan.Apply).
//
// With rehash, migrations.sum records every numbered file as it is now: the
// way to accept an intended edit. A second run finds nothing to do and
// says so.
func Fix(ctx context.Context, o Options, rehash bool) error {
	plan, err := migfiles.PlanFix(o.Dir, rehash)
	if err != nil {
		return err
	}
	if len(plan.Renames) == 0 {
		// Nothing to number means no version row to remap: the database
		// isn't even started.
		if !plan.Changes() {
			fmt.Fprintf(o.Stdout, "fixMigrations: nothing to do: no timestamp migrations in %s, %s up to date\n", o.Dir, migfiles.SumFile)
			return nil
		}
		if err := plan.Apply(nil); err != nil {
			return err
		}
		report(o.Stdout, plan, nil)
		return nil
	}
	return withLocal(ctx, o, func(url, _ string) error {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return fmt.Errorf("connect to database: %w", err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		tx, err := conn.Begin(ctx)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		// A no-op once committed; otherwise nothing written stays.
		defer tx.Rollback(context.WithoutCancel(ctx))

		moves, why, err := remap(ctx, tx, plan)
		if err != nil {
			return err
		}
		if len(moves) > 0 {
			if err := Guard(url, o.Getenv, o.Force); err != nil {
				return fmt.Errorf("fixMigrations changed nothing: the database applied timestamp migrations and remapping them is %w", err)
			}
		}
		if err := plan.Apply(func() error {
			if err := tx.Commit(ctx); err != nil {
				return fmt.Errorf("commit the version remap: %w", err)
			}
			return nil
		}); err != nil {
			return err
		}
		report(o.Stdout, plan, moves)
		if len(moves) == 0 {
			fmt.Fprintf(o.Stdout, "database %s: nothing to remap (%s)\n", databaseName(url), why)
		}
		return nil
	})
}

// remap rewrites, inside tx, goose_db_version rows of the timestamp versions
// plan numbers. It refuses (a *migfiles.ProblemsError pointing to resetDB)
// when the rows can't be mapped safely: a version applied that no file has,
// or an applied set that would have a hole once numbered (goose would then
// refuse to start with "missing migrations"). why says why there was
// nothing to move.
func remap(ctx context.Context, tx pgx.Tx, plan *migfiles.Plan) (moves []Move, why string, err error) {
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass('goose_db_version') IS NOT NULL").Scan(&exists); err != nil {
		return nil, "", fmt.Errorf("look for goose_db_version: %w", err)
	}
	if !exists {
		return nil, "no goose_db_version table: nothing applied yet", nil
	}
	// The app's migration lock: a `dev` starting right now must not apply a
	// timestamp version between our read and our commit.
	var locked bool
	if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", migrate.LockID).Scan(&locked); err != nil {
		return nil, "", fmt.Errorf("take the migration lock: %w", err)
	}
	if !locked {
		return nil, "", fmt.Errorf("fixMigrations changed nothing: another process is applying migrations to this database (advisory lock %d is held): let it finish, then run fixMigrations again", migrate.LockID)
	}
	// goose's Provider counts every row as applied, whatever is_applied
	// says (legacy goose wrote false rows on down): so do we.
	rows, err := tx.Query(ctx, "SELECT DISTINCT version_id FROM goose_db_version WHERE version_id > 0 ORDER BY version_id")
	if err != nil {
		return nil, "", fmt.Errorf("read goose_db_version: %w", err)
	}
	dbVersions, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, "", fmt.Errorf("read goose_db_version: %w", err)
	}

	numbered, err := plan.Numbered()
	if err != nil {
		return nil, "", err
	}
	newVersions := plan.Versions()
	fileOf := map[int64]string{} // version after the fix → file
	for _, f := range numbered {
		fileOf[f.Version] = f.Name
	}
	target := map[int64]bool{}
	for _, v := range newVersions {
		target[v] = true
	}
	db := "database " + tx.Conn().Config().Database
	resetFix := "start over with go run mage.go resetDB (then seed)"
	var problems []migfiles.Problem
	applied := map[int64]bool{} // versions after the fix
	for _, v := range dbVersions {
		if target[v] {
			// Even with nothing to move: goose would take the renamed file
			// for applied and never run it.
			problems = append(problems, migfiles.Problem{File: db, Msg: fmt.Sprintf("goose_db_version already has version %d, the number %s would get", v, fileOf[v]), Fix: resetFix})
			continue
		}
		if nv, ok := newVersions[v]; ok {
			moves = append(moves, Move{File: fileOf[nv], From: v, To: nv})
			applied[nv] = true
			continue
		}
		applied[v] = true
	}
	if len(moves) > 0 {
		// Remapped rows must leave a database goose accepts: every applied
		// version has a file, and once numbered the applied ones are 1..k
		// with nothing skipped (goose refuses a hole: "missing migrations").
		var highest int64
		for _, v := range slices.Sorted(maps.Keys(applied)) {
			highest = v
			if _, ok := fileOf[v]; !ok {
				problems = append(problems, migfiles.Problem{File: db, Msg: fmt.Sprintf("version %d is applied but no migration file has it (a branch switched or a file removed?)", v), Fix: resetFix})
			}
		}
		for _, f := range numbered {
			if f.Version < highest && !applied[f.Version] {
				problems = append(problems, migfiles.Problem{File: db, Msg: fmt.Sprintf("%s is not applied but %s, numbered after it, is: goose would refuse this database (missing migrations)", f.Name, fileOf[highest]), Fix: resetFix})
			}
		}
	}
	if len(problems) > 0 {
		return nil, "", &migfiles.ProblemsError{Action: "fixMigrations changed nothing: the database's version rows can't be remapped safely", Problems: problems}
	}
	if len(moves) == 0 {
		return nil, "none of the timestamp versions is applied", nil
	}
	slices.SortFunc(moves, func(a, b Move) int { return cmp.Compare(a.To, b.To) })
	for _, m := range moves {
		if _, err := tx.Exec(ctx, "UPDATE goose_db_version SET version_id = $1 WHERE version_id = $2", m.To, m.From); err != nil {
			return nil, "", fmt.Errorf("remap version %d to %d: %w", m.From, m.To, err)
		}
	}
	return moves, "", nil
}

// report prints what Fix did: renames, recorded hashes, remapped rows.
func report(w io.Writer, plan *migfiles.Plan, moves []Move) {
	if len(plan.Renames) > 0 {
		fmt.Fprintf(w, "fixMigrations: numbered %s in %s:\n", plural(len(plan.Renames), "migration"), plan.Dir)
		for _, r := range plan.Renames {
			fmt.Fprintf(w, "  %s -> %s\n", r.From, r.To)
		}
	}
	if len(plan.Recorded) > 0 {
		fmt.Fprintf(w, "%s: recorded %s\n", migfiles.SumFile, strings.Join(plan.Recorded, ", "))
	}
	if len(plan.Dropped) > 0 {
		fmt.Fprintf(w, "%s: dropped %s (no such numbered migration)\n", migfiles.SumFile, strings.Join(plan.Dropped, ", "))
	}
	if len(moves) > 0 {
		fmt.Fprintf(w, "remapped %s in goose_db_version:\n", plural(len(moves), "applied version"))
		for _, m := range moves {
			fmt.Fprintf(w, "  %d -> %d (%s)\n", m.From, m.To, m.File)
		}
	}
}
