// Package backup takes, lists and restores the app's database backups on
// its server: pg_dump --format=custom files under DEPLOY_PATH/backups,
// each beside a .meta of when, size and the goose schema version it holds.
//
// The work is done on the server by slipway-helper's steps (package
// helper: backup-take, backup-list, restore-prepare, restore-swap), which
// read the database's credentials from the app's env file there
// (helper.DatabaseEnv): nothing secret crosses the SSH session or shows in
// a command line. Take, Prepare and Swap run in a transient systemd unit
// (service.DetachedJob, helper.Detach) that a client killed mid-way leaves
// to finish. A restore is two steps: Prepare restores into a fresh
// database beside the live one (stopped there, nothing the app sees has
// changed), Swap renames it into place and starts the release whose
// migrations match, with the handover's switch.
//
// Layout, under DEPLOY_PATH:
//
//	backups/<id>.dump   pg_dump --format=custom, 0600, owned by the SSH user
//	backups/<id>.meta   when=, size=, schema=, release=, kind=, duration_ms=, database=
//
// A deploy's backup is named after the release about to start; one taken
// on demand <UTC time>-manual, one before a restore <UTC time>-pre-restore.
package backup
