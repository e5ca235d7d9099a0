package helper

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// RestorePrepareArgs are restore-prepare's arguments.
type RestorePrepareArgs struct {
	DBArgs
	// ID is the backup to restore: backups/<ID>.dump.
	ID string `json:"id"`
	// Schema is the goose version the backup's record says it holds.
	Schema int64 `json:"schema"`
}

func init() {
	Register("restore-prepare", true, func(ctx context.Context, e *Env, a RestorePrepareArgs) error {
		if d := a.Detached; d != nil {
			a.Detached = nil
			return Detach(ctx, e, *d, "restore-prepare-run", a)
		}
		return restorePrepare(ctx, e, a)
	})
	Register("restore-prepare-run", true, restorePrepare)
}

// restorePrepare restores backups/<id>.dump into a fresh database
// <db>_restore (a leftover of an interrupted restore is dropped first),
// after pg_restore --list read it whole: a damaged dump is refused before
// any database is touched. The live database is never touched: a restore
// stopped here or before changes nothing the app sees. The restored
// database must hold schema version Schema. The result line says which
// database is live and how the local postgres superuser reaches it, for
// the swap.
func restorePrepare(ctx context.Context, e *Env, a RestorePrepareArgs) error {
	if err := a.check(); err != nil {
		return err
	}
	if !backupIDRE.MatchString(a.ID) {
		return fmt.Errorf("backup id %q: want <UTC time>-<letters, digits, ->", a.ID)
	}
	vars, db, err := a.vars(e)
	if err != nil {
		return err
	}
	bk := a.DeployPath + "/backups"
	file := e.Path(bk + "/" + a.ID + ".dump")
	if fi, err := os.Stat(file); err != nil || !fi.Mode().IsRegular() {
		return failed(e, "no backup %s in %s", a.ID, bk)
	}
	if out, err := exec.CommandContext(ctx, "pg_restore", "--list", file).CombinedOutput(); err != nil {
		return failed(e, "backup %s is damaged, not restored (pg_restore --list: %s): pick another with -backup=ID", a.ID, tail(out))
	}
	fresh := db + "_restore"
	owner := dbVar(vars, "PGUSER")
	if owner == "" {
		owner = a.User
	}
	su := superuserVars(vars)
	t0 := time.Now()
	if _, err := psqlAs(ctx, pgSuperuser, su, "DROP DATABASE IF EXISTS "+quoteIdent(fresh)+" WITH (FORCE)"); err != nil {
		return failed(e, "create database %s (as the local postgres superuser): %v", fresh, err)
	}
	if _, err := psqlAs(ctx, pgSuperuser, su, "CREATE DATABASE "+quoteIdent(fresh)+" OWNER "+quoteIdent(owner)); err != nil {
		return failed(e, "create database %s (as the local postgres superuser): %v", fresh, err)
	}
	drop := func() {
		_, _ = psqlAs(context.WithoutCancel(ctx), pgSuperuser, su, "DROP DATABASE IF EXISTS "+quoteIdent(fresh)+" WITH (FORCE)")
	}
	// Root opens the dump (0600, the SSH user's); pg_restore, as the
	// service user, only reads it on stdin.
	f, err := os.Open(file)
	if err != nil {
		drop()
		return failed(e, "open backup %s: %v", a.ID, err)
	}
	_, err = runAs(ctx, a.User, withVar(vars, "PGDATABASE", fresh), f, nil,
		"pg_restore", "--exit-on-error", "--single-transaction", "--no-owner", "--no-acl", "-d", fresh)
	f.Close()
	if err != nil {
		drop()
		return failed(e, "pg_restore of backup %s failed, nothing changed: %v", a.ID, err)
	}
	if got := schemaOf(ctx, a.User, vars, fresh); got != a.Schema {
		drop()
		return failed(e, "the restored database holds schema version %d, the backup's record says %d: nothing changed", got, a.Schema)
	}
	// The swap renames databases as the local postgres superuser: it is
	// told how that one reaches the server (pghost "-": the default socket).
	e.Result("ok", fmt.Sprintf("database=%s schema=%d duration_ms=%d live=%s pghost=%s pgport=%s",
		fresh, a.Schema, time.Since(t0).Milliseconds(), db, dash(dbVar(su, "PGHOST")), dash(dbVar(su, "PGPORT"))))
	return nil
}
