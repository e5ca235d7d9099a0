package targets

import (
	"context"
	"errors"
	"os"

	dbbackup "github.com/slipway-dev/slipway/internal/backup"
	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/devdb"
)

// ---- backups ----

// Backup dumps $DEPLOY_HOST's database now, on the server, into DEPLOY_PATH/backups (see docs/backups.md).
// Deploy takes one on its own before a release whose migrations are
// pending; DEPLOY_KEEP_BACKUPS (default 5) stay.
func Backup(ctx context.Context) error {
	_, o, err := deployOptions()
	if err != nil {
		return err
	}
	_, err = deploy.Backup(ctx, o)
	return err
}

// Backups lists each $DEPLOY_HOST's backups, newest first: id, when, size, schema version, release.
func Backups(ctx context.Context) error {
	_, o, err := deployOptions()
	if err != nil {
		return err
	}
	return deploy.PrintBackups(ctx, o)
}

// Restore brings $DEPLOY_HOST's database back to a backup: restore -backup=ID [-yes], or -time=RFC3339.
// It backs up the database as it is first (undo), restores into a fresh
// database, checks it, swaps it in and starts the release whose migrations
// match its schema version; it prints the downtime of the swap. It asks
// first on a terminal; -yes confirms from a script. A restore point's ID,
// or -time= (a server archiving to a bucket), replays the bucket's WAL to
// it first.
func Restore(ctx context.Context, backup *string, time *string, yes *bool) error {
	at := ""
	if time != nil {
		at = *time
	}
	if (backup == nil || *backup == "") == (at == "") {
		return errors.New("restore: name the backup with -backup=ID (`go run mage.go backups` lists them), or a moment with -time=2026-01-02T15:04:05Z, one of the two")
	}
	if backup == nil {
		backup = new(string)
	}
	_, o, err := deployOptions()
	if err != nil {
		return err
	}
	_, err = deploy.Restore(ctx, o, deploy.RestoreOptions{Backup: *backup, Time: at, Confirm: dbbackup.Confirm(os.Stdin, os.Stdout, yes != nil && *yes)})
	return err
}

// BackupVerify checks each $DEPLOY_HOST's backups in its bucket: pgbackrest verify, then the newest restored into a scratch cluster.
// The restored cluster must hold a sentinel row written just before (the
// WAL reaches the present) and the app's schema version; the scratch
// cluster is removed after. A weekly timer on the server does the same
// and alerts on failure (docs/backups.md).
func BackupVerify(ctx context.Context) error {
	_, o, err := deployOptions()
	if err != nil {
		return err
	}
	return deploy.VerifyBackups(ctx, o)
}

// PullDB replaces the local development database with $DEPLOY_HOST's newest backup: pullDB [-fresh] [-force].
// -fresh takes a backup now and pulls that one. Refused, like resetDB, when
// the local database isn't on this machine or APP_ENV=production, unless
// -force. The data is production's: keep it on this machine.
func PullDB(ctx context.Context, fresh, force *bool) error {
	_, o, err := deployOptions()
	if err != nil {
		return err
	}
	ddb, err := devDB(force)
	if err != nil {
		return err
	}
	return devdb.PullDB(ctx, ddb, func(dst string) (string, error) {
		id, err := deploy.FetchBackup(ctx, o, "", fresh != nil && *fresh, dst)
		return "backup " + id + " of " + o.Hosts[0], err
	})
}
