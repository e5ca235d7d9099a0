// Package deploy ships bin/app to the servers named by ssh config aliases
// and makes it live on each without stopping the one that serves: under the
// server's deploy lock, upload into a new release folder, verify its SHA-256
// and that it runs, back the database up when the release brings
// migrations, then the handover (package service): the new release's
// instance starts beside the live one and takes over once ready, or is
// stopped and the live one keeps serving. Rollback, Restore, Status,
// Backups, the env:* changes, Exec, Psql, Logs and Provision are here too,
// each a function the mage targets call.
//
// Several hosts (DEPLOY_HOST=web-1,web-2) share one database: deploy,
// rollback, restore and backup first check that every host's URL reaches
// it (hosts.go), then change one host at a time; the first host's deploy
// backs up and migrates, restore runs on the first host and switches the
// others to their matching release, rollback sends every host to one build.
//
// Server layout, under DEPLOY_PATH:
//
//	releases/<UTC time>-<sha256 prefix>/app   (+ app.sha256, app.version)
//	current  -> releases/<id>   the live release
//	previous -> releases/<id>   what rollback goes back to
//	backups/<id>.dump, .meta    the database dumps (package backup)
//	deploy.log                  one line per deploy, rollback, restore and failure
//	.deploy.lock                flock'd by the deploy in progress; .deploy.lock.info says who
//	.slipway                    the layout version and the Slipway that wrote it
//
// All of it runs over one SSH connection per host (internal/remote), and
// every step on the server is slipway-helper's (package helper).
package deploy
