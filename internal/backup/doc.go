// Package backup takes, lists and restores the app's database backups on
// its server: pg_dump --format=custom files under DEPLOY_PATH/backups,
// each beside a .meta of when, size and the goose schema version it holds.
//
// Every step that writes runs on the server in a transient systemd unit
// (service.Detached) from scripts that read the database's credentials from
// the app's env file there: nothing secret crosses the SSH session or
// shows in a command line, and a client killed mid-way leaves the server
// to finish or leave alone what it began. A restore is two such steps:
// Prepare restores into a fresh database beside the live one (stopped
// there, nothing the app sees has changed), Swap renames it into place and
// starts the release whose migrations match.
//
// Layout, under DEPLOY_PATH:
//
//	backups/<id>.dump   pg_dump --format=custom, 0600, owned by the SSH user
//	backups/<id>.meta   when=, size=, schema=, release=, kind=, duration_ms=
//
// A deploy's backup is named after the release about to start; one taken
// on demand <UTC time>-manual, one before a restore <UTC time>-pre-restore.
package backup
