// Package app is what the main package of a Go + PostgreSQL web app calls to
// be released by Slipway: one call, [Main], gives the app the command line
// and the serving behaviour that Slipway's deploy, rollback, exec and
// env:set rely on on the server. The app keeps its own routes, pool use and
// code; the runtime does the rest.
//
// A whole main:
//
//	package main
//
//	import (
//		"net/http"
//
//		"github.com/slipway-dev/slipway/app"
//		"example.com/shop/db/migrations" // //go:embed *.sql
//	)
//
//	func main() {
//		app.Main(app.Config{
//			Migrations:  migrations.FS,
//			DatabaseURL: "SHOP_DATABASE_URL", // "" is DATABASE_URL
//			Handler: func(d app.Deps) (http.Handler, error) {
//				return newServer(d.Pool, d.Log), nil
//			},
//		})
//	}
//
// # Commands
//
// The binary's first argument picks the command; none is serve:
//
//	serve [-no-migrate]   apply pending migrations, then serve HTTP (the default)
//	migrate status        list migrations and whether each is applied
//	migrate up            apply all pending migrations
//	migrate up-to V       apply pending migrations up to version V
//	migrate down          roll back the most recent migration
//	migrate down-to V     roll back every migration above version V
//	migrate version       print the database's migration version
//	jobs [-json]          list the jobs and workers of this binary
//	job NAME              run one job now, under its lock (its timer's command)
//	worker NAME           run one worker until SIGTERM (its unit's command)
//	config check          load the settings as serve would, without connecting
//	version               print the build's version, commit and Go version
//	help                  the commands and every setting, with its default
//	admin create -email E [-reset-password]
//	                      only with Config.Admin: create an admin, password on stdin
//
// With no arguments at all, the arguments come from SLIPWAY_ARGS when it is
// set (hex-encoded, each followed by a space): `go run mage.go exec -- ARGS`
// passes them there rather than in argv, which every local user can read.
// A systemd instance runs `serve` explicitly, so a stray SLIPWAY_ARGS never
// changes what it does.
//
// # Serving
//
// serve connects (retrying an unreachable database for DB_WAIT), applies
// the pending migrations of Config.Migrations (goose files, under a
// PostgreSQL advisory lock so that one instance of several applies them),
// builds the app's handler with Config.Handler, and serves it with, beside
// it (winning over the app's same paths):
//
//   - GET /healthz: 200 while the process runs; it checks nothing else.
//   - GET /readyz: 200 when the database answers and no migration is
//     pending, else 503 with a reason in the runtime's words (the
//     database's own error text goes to the log only).
//   - GET /version: the build stamp as JSON (version, commit, go_version).
//   - the admin area under /admin, with Config.Admin.
//
// On sockets passed by systemd (socket activation: the app's socket, and
// the front door's socket named "proxy" on which Caddy's X-Forwarded-For is
// believed) it accepts no connection before /readyz would say ready, then
// tells systemd READY=1 with STATUS=serving version=V commit=C release=R,
// which deploy matches on the instance it started. Alone on ADDR it serves
// at once. While serving it feeds systemd's watchdog (WatchdogSec=) only
// while the database answers. On SIGTERM or SIGINT it stops accepting,
// waits 250 ms for connections accepted just before, then lets in-flight
// requests finish (SHUTDOWN_TIMEOUT): the next release on the shared socket
// takes what the kernel queues, and no request is refused.
//
// /metrics (Prometheus: requests by route and code, their latency, the
// pool, the startup migration, the build, the Go runtime) is served on a
// listener of its own, METRICS_ADDR (127.0.0.1:9090 by default), and only
// to scrapes sending METRICS_TOKEN as a bearer token. The route label is the
// http.ServeMux pattern that matched: an app handler that is an http.ServeMux labels
// its own routes; any other handler counts as route "/".
//
// # Jobs and workers
//
// Config.Jobs are functions run on a schedule (systemd calendar syntax),
// Config.Workers long-running processes beside the web one. On a server,
// each deploy, rollback and env:set makes one timer per job (running the
// current release's `app job NAME`) and the workers of the release that
// goes live (`app worker NAME`, started once its web instance is ready,
// the old ones stopped with a drain deadline). A job run holds a
// PostgreSQL advisory lock named after the job (JobLockKey) for its whole
// run: on several hosts one runs it, the others log "skipped: running on
// <host>" and exit 0. A worker's context is cancelled on SIGTERM: it
// finishes what it holds and returns. See docs/jobs.md.
//
// # Settings
//
// Every setting comes from the environment (on a server: the env file):
// the database URL under Config.DatabaseURL's name (DATABASE_URL by
// default) and ADDR, LOG_FORMAT, NO_MIGRATE, DB_WAIT, MIGRATION_LOCK_WAIT,
// SHUTDOWN_TIMEOUT, TRUSTED_PROXIES, METRICS_ADDR, METRICS_TOKEN (plus
// PASSWORD_PEPPER, LOGIN_HASH_CONCURRENCY and COOKIE_INSECURE with
// Config.Admin). `app help` lists them with their defaults; `app config
// check` reports every bad value at once, each naming the variable and the
// fix, without connecting anywhere (env:set runs it on the server before a
// new env file goes live). The app's own settings are its business: it reads
// them with Deps.Getenv.
//
// # Version stamp
//
// Slipway's buildApp stamps the binary with -ldflags -X on
// github.com/slipway-dev/slipway/internal/version.Version and .Commit; any
// main that imports this package gets the stamp, shown by `version`,
// /version, STATUS= and slipway_build_info.
//
// # What it does not bring
//
// The package links none of Slipway's release tooling: no SSH or SCP
// client, no migration lint parser, no sandbox, no test harness (a test in
// this package checks `go list -deps`).
package app
