//go:build mage

// Slipway's release automation. This file is a table of contents: each target
// is a doc comment (its first sentence is the `go run mage.go -l` help line)
// and a few lines calling the internal/ package that does the work.
package main

// The release targets come from the targets package, as in any app that
// adopts Slipway; what stays here is this repository's own: its test suite
// and its benchmarks.

import (
	"context"
	"log/slog"
	"os"

	"github.com/magefile/mage/mg"

	"github.com/slipway-dev/slipway/internal/bench"
	"github.com/slipway-dev/slipway/internal/magelog"
	"github.com/slipway-dev/slipway/internal/testsuite"
	//mage:import
	"github.com/slipway-dev/slipway/targets"
)

// Our app: ./cmd/app, migrations/, bin/app, DATABASE_URL (the zero
// Project's layout), with the admin area and its development users as seed.
func init() {
	targets.Configure(targets.Project{Main: "./cmd/app", Migrations: "migrations", Name: "app", DatabaseURL: "DATABASE_URL", Admin: true})
}

// ---- test ----

// Test runs gofmt, go vet and staticcheck (magefile included), then every test with -race.
// -run limits the tests to a pattern, as go test -run does. -short is the
// fast loop: the same checks, then the tests that need no sandbox, without
// -race and with go test's cache. CI runs the full test.
func Test(ctx context.Context, run *string, short *bool) error {
	o := testsuite.Options{Root: root(), Stdout: os.Stdout, Stderr: os.Stderr, Short: short != nil && *short}
	if run != nil {
		o.Run = *run
	}
	return testsuite.Run(ctx, o)
}

// root is the repository root: mage runs targets from the magefile's folder.
func root() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return wd
}

// targetArch picks the -goarch flag, then $GOARCH, then amd64.
func targetArch(flag *string) string { return magelog.Arch(flag) }

// targetLog is every target's logger, for details, shown with mage -v.
func targetLog() *slog.Logger { return magelog.Logger() }

// ---- benchmarks ----

// Bench measures Slipway against its baselines, each in one run on this
// machine (internal/bench): bench:build, bench:lint, bench:upload, bench:deploy, bench:login, bench:backup.
type Bench mg.Namespace

// Backup measures backup and restore of a 300 MB database on its own sandbox, and what the backup adds to a migrating deploy.
// Seconds per GiB of database for pg_dump and the restore, the swap's
// downtime and the longest wait of a /readyz probe during restore, and a
// migrating deploy with its backup against DEPLOY_BACKUP=off in the same
// run. -sizeMB changes the data generated.
func (Bench) Backup(ctx context.Context, sizeMB *int) error {
	o := bench.BackupOptions{RigOptions: bench.RigOptions{Root: root(), Stdout: os.Stdout, Log: targetLog()}}
	if sizeMB != nil {
		o.SizeMB = *sizeMB
	}
	res, err := bench.Backup(ctx, o)
	if err != nil {
		return err
	}
	res.Print(os.Stdout)
	return nil
}

// Login fires 200 concurrent logins at the app built from main (before) and from this tree (after): peak RSS and response codes; then /readyz under a garbage login flood.
// Both run against a throwaway PostgreSQL in the same run; main's binary is
// capped at 4 GiB of address space so its unbounded hashing can't take the
// machine. -attempts changes 200; -baseline another revision than main.
func (Bench) Login(ctx context.Context, attempts *int, baseline *string) error {
	o := bench.LoginOptions{Root: root(), Stdout: os.Stdout}
	if attempts != nil {
		o.Attempts = *attempts
	}
	if baseline != nil {
		o.Baseline = *baseline
	}
	_, err := bench.Login(ctx, o)
	return err
}

// Build times buildApp against the plain go build it wraps and compares binary sizes.
// -goarch as for buildApp; -runs sets the timed runs per command (default 5).
func (Bench) Build(ctx context.Context, goarch *string, runs *int) error {
	o := bench.BuildOptions{GOARCH: targetArch(goarch), Log: targetLog()}
	if runs != nil {
		o.Runs = *runs
	}
	res, err := bench.Build(ctx, o)
	if err != nil {
		return err
	}
	res.Print(os.Stdout)
	return nil
}

// Lint times lintMigrations and checkMigrations on 500 generated migrations, new and unchanged, and squawk on the same files.
// Each row is a fresh process of this mage binary. -squawk is the squawk
// binary (default: squawk on PATH); -files the number of files.
func (Bench) Lint(ctx context.Context, squawk *string, files *int) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	o := bench.LintOptions{Mage: exe}
	if squawk != nil {
		o.Squawk = *squawk
	}
	if files != nil {
		o.Files = *files
	}
	res, err := bench.Lint(ctx, o)
	if err != nil {
		return err
	}
	res.Print(os.Stdout)
	return nil
}

// Upload times the 20 MiB upload of deploy (go-scp) against OpenSSH scp to $DEPLOY_HOST.
// Try it on the sandbox: DEPLOY_HOST=sandbox DEPLOY_SSH_CONFIG=<its ssh_config>.
// -runs sets the runs per method (default 5). What a redeploy sends is
// bench:deploy's "unchanged" column.
func (Bench) Upload(ctx context.Context, runs *int) error {
	o := bench.UploadOptions{Binary: "bin/app", Log: targetLog()}
	if runs != nil {
		o.Runs = *runs
	}
	res, err := bench.Upload(ctx, o)
	if err != nil {
		return err
	}
	res.Print(os.Stdout)
	return nil
}

// Deploy compares deploy's handover with the seed's scp-and-restart and with restarts in place, under load on its own sandbox.
// It boots a sandbox (root, Linux), builds the app, and runs every scenario
// there in the same run: wall time (new and unchanged binary) and bytes sent
// for deploy and the seed's flow; failed requests and p50/p99/max over 10
// deploys under load for each; then one deploy each of a release with a 20 s
// migration and of one never ready, by restart in place and by handover,
// with the requests that release answered; then deploys with the load
// through HTTPS (Caddy, a Pebble certificate); last, command→serving: the
// `deploy` target run as a user runs it, today's flow (commit 207fac8) then
// this tree's, each a new binary with one migration, until the first answer
// with the new /version, and where the time goes. -deploys sets the deploys
// under load per scenario, -rate the requests per second on /readyz
// (default 100), -runs the command→serving runs per flow (default 5),
// -baseline the commit they compare with; -servingOnly runs only them.
func (Bench) Deploy(ctx context.Context, deploys, rate, runs *int, baseline *string, servingOnly *bool) error {
	o := bench.DeployOptions{RigOptions: bench.RigOptions{Root: root(), Stdout: os.Stdout, Log: targetLog()}}
	if deploys != nil {
		o.Deploys = *deploys
	}
	if rate != nil {
		o.Rate = *rate
	}
	if runs != nil {
		o.Serving.Runs = *runs
	}
	if baseline != nil {
		o.Serving.Baseline = *baseline
	}
	if servingOnly != nil && *servingOnly {
		o.Scenarios = []bench.Scenario{}
	}
	res, err := bench.Deploy(ctx, o)
	if err != nil {
		return err
	}
	res.Print(os.Stdout)
	return nil
}
