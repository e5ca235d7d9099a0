//go:build mage

// Slipway's release automation. This file is a table of contents: each target
// is a doc comment (its first sentence is the `go run mage.go -l` help line)
// and a few lines calling the internal/ package that does the work.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/magefile/mage/mg"

	"github.com/slipway-dev/slipway/internal/appexec"
	"github.com/slipway-dev/slipway/internal/applogs"
	dbbackup "github.com/slipway-dev/slipway/internal/backup"
	"github.com/slipway-dev/slipway/internal/bench"
	"github.com/slipway-dev/slipway/internal/build"
	"github.com/slipway-dev/slipway/internal/createadmin"
	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/dev"
	"github.com/slipway-dev/slipway/internal/devdb"
	"github.com/slipway-dev/slipway/internal/envfile"
	"github.com/slipway-dev/slipway/internal/frontdoor"
	"github.com/slipway-dev/slipway/internal/lint"
	"github.com/slipway-dev/slipway/internal/migfiles"
	"github.com/slipway-dev/slipway/internal/password"
	"github.com/slipway-dev/slipway/internal/psql"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/sandbox"
	"github.com/slipway-dev/slipway/internal/service"
	"github.com/slipway-dev/slipway/internal/testsuite"
)

// ---- develop ----

// Dev runs the app on http://127.0.0.1:8080 against a local PostgreSQL kept in .dev/ (or DATABASE_URL).
// Migrations are applied at startup; Ctrl-C stops the app and the database.
func Dev(ctx context.Context) error {
	return dev.Run(ctx, dev.Options{Root: root(), Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr})
}

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

// ---- build ----

// BuildApp builds bin/app: a static, stripped, reproducible linux binary, verified and checksummed.
// -goarch=arm64 builds for arm64 servers. The default is amd64, or $GOARCH
// with a compiled mage binary: `GOARCH=arm64 go run mage.go` can't work, it
// would build mage itself for arm64.
func BuildApp(ctx context.Context, goarch *string) error {
	mg.CtxDeps(ctx, CheckMigrations)
	_, err := build.Run(ctx, build.Options{GOARCH: targetArch(goarch), Stdout: os.Stdout, Log: targetLog()})
	return err
}

// targetArch picks the -goarch flag, then $GOARCH, then amd64.
func targetArch(flag *string) string {
	if flag != nil {
		return *flag
	}
	return os.Getenv("GOARCH")
}

// targetLog is every target's logger, for details: the exact go command,
// each ssh step, shown with mage -v. Progress is not logged: targets print it
// as sentences on stdout (deploy, provision, sandbox:*, bench:*).
func targetLog() *slog.Logger {
	level := slog.LevelInfo
	if mg.Verbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// ---- sandbox ----

// Sandbox boots a real Debian server on this machine to deploy to and test against (root, Linux).
// SANDBOX_NAME, SANDBOX_DIR, SANDBOX_CACHE_DIR and SANDBOX_MIRROR override the defaults.
type Sandbox mg.Namespace

// Up boots the sandbox (debootstrap once, then systemd-nspawn) and prints how to ssh and deploy to it.
// Running it again while the sandbox is up changes nothing.
func (Sandbox) Up(ctx context.Context) error {
	sb, err := newSandbox()
	if err != nil {
		return err
	}
	inst, err := sb.Up(ctx)
	if err != nil {
		return err
	}
	_, err = os.Stdout.WriteString(inst.Usage() + "\n")
	return err
}

// Down stops the sandbox and checks it left no process, mount or port behind.
func (Sandbox) Down(ctx context.Context) error {
	sb, err := newSandbox()
	if err != nil {
		return err
	}
	return sb.Down(ctx)
}

// Status says whether the sandbox runs and how to reach it.
func (Sandbox) Status(ctx context.Context) error {
	sb, err := newSandbox()
	if err != nil {
		return err
	}
	inst, err := sb.Status(ctx)
	if errors.Is(err, sandbox.ErrNotRunning) {
		_, err = os.Stdout.WriteString("sandbox " + sb.Name() + ": " + err.Error() + "\n")
		return err
	}
	if err != nil {
		return err
	}
	_, err = os.Stdout.WriteString(inst.Usage() + "\n")
	return err
}

// newSandbox is the sandbox the sandbox:* targets manage, with its progress
// on stdout.
func newSandbox() (*sandbox.Sandbox, error) {
	return sandbox.New(targetLog(), append(sandbox.FromEnv(os.Getenv), sandbox.WithStdout(os.Stdout))...)
}

// ---- migrations ----

// LintMigrations checks that each migration is safe to apply while the old binary keeps serving.
// It parses the Up section of every file in $MIGRATIONS_DIR (default
// migrations/), prints the findings and fails if there are any. A statement
// opts out with `-- slipway:allow <rule> <reason>`. -format=text (default,
// `path:line: rule: message`), json, or github (workflow-command annotations).
// Results are cached by file content in ~/.cache/slipway/lint
// ($SLIPWAY_LINT_CACHE; off disables it).
func LintMigrations(ctx context.Context, format *string) error {
	f := lint.Formats[0]
	if format != nil {
		f = *format
	}
	if err := lint.CheckFormat(f); err != nil {
		return err
	}
	findings, err := lint.Dir(ctx, migrationsDir(), lintCache())
	if err != nil {
		return err
	}
	warnSlowParser()
	if err := lint.Write(os.Stdout, f, findings); err != nil {
		return err
	}
	if len(findings) > 0 {
		return fmt.Errorf("%d findings", len(findings))
	}
	return nil
}

// NewMigration creates migrations/<UTC timestamp>_<name>.sql with goose's Up and Down sections.
// name is snake_case (add_orders). Timestamp versions never clash between
// branches; fixMigrations numbers them before merge.
func NewMigration(ctx context.Context, name string) error {
	path, err := migfiles.Create(migrationsDir(), name, time.Now())
	if err != nil {
		return err
	}
	fmt.Println("created", path)
	return nil
}

// FixMigrations numbers timestamp migrations sequentially and remaps the local database's version rows to match.
// All or nothing; a second run changes nothing. -rehash records every
// numbered file in migrations.sum as it is now (accepts an intended edit);
// -force remaps even a database that isn't on this machine or APP_ENV=production.
func FixMigrations(ctx context.Context, rehash, force *bool) error {
	return devdb.Fix(ctx, devDB(force), rehash != nil && *rehash)
}

// ResetDB drops, recreates and migrates the local database, then prints its version.
// Refused when the database isn't on this machine or APP_ENV=production,
// unless -force.
func ResetDB(ctx context.Context, force *bool) error {
	return devdb.ResetDB(ctx, devDB(force))
}

// Seed fills the local database with development users (no real secrets); a second run adds nothing.
// Same guard and -force as resetDB; resetDB then seed gets back to a known state.
func Seed(ctx context.Context, force *bool) error {
	return devdb.Seed(ctx, devDB(force))
}

// CheckMigrations is the gate CI, buildApp and deploy run: numbering, goose syntax, migrations.sum and lint.
// It prints one line per problem, naming the file and the fix.
func CheckMigrations(ctx context.Context) error {
	dir := migrationsDir()
	problems, err := migfiles.Check(ctx, dir, lintCache())
	if err != nil {
		return err
	}
	warnSlowParser()
	for _, p := range problems {
		fmt.Println(p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("checkMigrations: %s failed: fix the lines above", dir)
	}
	fmt.Printf("checkMigrations: %s ok\n", dir)
	return nil
}

// lintCache is the lint's result cache: $SLIPWAY_LINT_CACHE, "off" for
// none, default slipway/lint in the user cache directory.
func lintCache() lint.Option {
	switch dir := os.Getenv("SLIPWAY_LINT_CACHE"); dir {
	case "off":
		return lint.WithCache("")
	case "":
		return lint.WithCache(lint.DefaultCacheDir())
	default:
		return lint.WithCache(dir)
	}
}

// warnSlowParser says why the lint was slow when mage was built without cgo
// and the cache didn't answer for every file.
func warnSlowParser() {
	if lint.ParserBuild() != "cgo" && lint.Parses() > 0 {
		fmt.Fprintln(os.Stderr, "lint: built without cgo, so the SQL parser runs as WebAssembly (~1.5 s and ~250 MB "+
			"to start); install gcc (CGO_ENABLED=1 is Go's default when it finds one) to make this ~50x faster")
	}
}

// migrationsDir is $MIGRATIONS_DIR, default migrations/.
func migrationsDir() string {
	if dir := os.Getenv("MIGRATIONS_DIR"); dir != "" {
		return dir
	}
	return "migrations"
}

// devDB points the database targets at the local database and migrations.
func devDB(force *bool) devdb.Options {
	return devdb.Options{Root: root(), Dir: migrationsDir(), Getenv: os.Getenv, Force: force != nil && *force, Stdout: os.Stdout}
}

// ---- server ----

// Provision does the one-time server set-up over SSH: service user, folders, env file template, units, socket.
// DEPLOY_HOST is the ssh alias and DEPLOY_SSH_CONFIG the ssh config (default
// ~/.ssh/config), as for deploy; sudo is used unless the SSH user is root.
// APP_NAME, DEPLOY_PATH, APP_LISTEN, APP_USER, APP_WATCHDOG and
// APP_START_TIMEOUT shape the units. The env file (/etc/<app>/<app>.env) is
// created from a template only when missing, never overwritten. Running it
// again changes nothing and says so. With APP_DOMAIN (ACME_CA, ACME_EMAIL)
// it also puts Caddy in front as the HTTPS front door (docs/https.md).
func Provision(ctx context.Context) error {
	o, err := deployOptions()
	if err != nil {
		return err
	}
	fd, err := frontdoor.FromEnv(os.Getenv, o.Service)
	if err != nil {
		return err
	}
	for _, host := range o.Hosts {
		fmt.Fprintf(os.Stdout, "provision %s\n", host)
		c, err := remote.Dial(ctx, remote.Options{Alias: host, ConfigPath: o.SSHConfig, Log: targetLog()})
		if err != nil {
			return err
		}
		_, err = service.Provision(ctx, c, o.Service, os.Stdout)
		if err == nil && fd.Enabled() {
			_, err = frontdoor.Provision(ctx, c, fd, os.Stdout)
		}
		c.Close()
		if err != nil {
			return fmt.Errorf("provision %s: %w", host, err)
		}
	}
	return nil
}

// CreateAdmin creates the first admin on $DEPLOY_HOST's database: createAdmin you@example.com [-reset].
// It runs `app admin create` on the (first) server as the service user with
// the service's env file; the password comes from $ADMIN_PASSWORD or a
// prompt without echo and travels on stdin, never in arguments. Idempotent:
// an existing email changes nothing unless -reset.
func CreateAdmin(ctx context.Context, email string, reset *bool) error {
	o, err := deployOptions()
	if err != nil {
		return err
	}
	pw, err := createadmin.Password(os.Getenv, os.Stdin, os.Stderr)
	if err != nil {
		return err
	}
	// Every host shares one database: the first one is enough.
	c, err := remote.Dial(ctx, remote.Options{Alias: o.Hosts[0], ConfigPath: o.SSHConfig, Log: targetLog()})
	if err != nil {
		return err
	}
	defer c.Close()
	return createadmin.Run(ctx, c, o.Service, createadmin.Options{Email: email, Password: pw, Reset: reset != nil && *reset, Stdout: os.Stdout})
}

// Exec runs the live release's binary on $DEPLOY_HOST's first host: exec -- migrate status.
// ARGS go after `--`; the command runs as the service user with the
// service's env file and sandboxing, stdin forwarded; its exit status is
// the target's (`go run` reports it as "exit status N" and exits 1).
func Exec(ctx context.Context) error {
	var args []string
	if v := os.Getenv("SLIPWAY_EXEC_ARGS"); v != "" {
		if err := json.Unmarshal([]byte(v), &args); err != nil {
			return fmt.Errorf("SLIPWAY_EXEC_ARGS: %v", err)
		}
	}
	return onFirstHost(ctx, func(o deploy.Options, c *remote.Client) error {
		return appexec.Run(ctx, c, o.Service, args, os.Stdin, os.Stdout, os.Stderr)
	})
}

// Psql opens psql on the app's database from $DEPLOY_HOST's first host, as the app's role: psql [-c=SQL].
// It runs on the server as the service, with DATABASE_URL from its env
// file (never in arguments or history). On a terminal it is interactive;
// -c runs one command, and piped stdin runs as a script; the exit status
// is psql's.
func Psql(ctx context.Context, c *string) error {
	po := psql.Options{Terminal: password.IsTerminal(os.Stdin) && password.IsTerminal(os.Stdout)}
	if c != nil {
		po.SQL = *c
	}
	return onFirstHost(ctx, func(o deploy.Options, cl *remote.Client) error {
		return psql.Run(ctx, cl, o.Service, po, os.Stdin, os.Stdout, os.Stderr)
	})
}

// onFirstHost runs f connected to $DEPLOY_HOST's first host (every host
// shares the database); a command's exit status (ExitStatus) becomes the
// target's.
func onFirstHost(ctx context.Context, f func(deploy.Options, *remote.Client) error) error {
	o, err := deployOptions()
	if err != nil {
		return err
	}
	c, err := remote.Dial(ctx, remote.Options{Alias: o.Hosts[0], ConfigPath: o.SSHConfig, Log: targetLog()})
	if err != nil {
		return err
	}
	defer c.Close()
	err = f(o, c)
	var ee interface{ ExitStatus() int }
	if errors.As(err, &ee) {
		return mg.Fatal(ee.ExitStatus(), err)
	}
	return err
}

// Logs prints the app's journal from every $DEPLOY_HOST, each line prefixed with its host, in time order: logs [-f] [-n=N] [-since=T] [-grep=RE].
// -n lines per host (default 50), -since as journalctl's --since ("-10min",
// "2026-01-02 10:00"), -grep a Go regexp on the message, -f follows until
// Ctrl-C. On a terminal the app's JSON lines show as `LEVEL msg key=value`.
func Logs(ctx context.Context, f *bool, n *int, since, grep *string) error {
	o, err := deployOptions()
	if err != nil {
		return err
	}
	lo := applogs.Options{Follow: f != nil && *f, Pretty: password.IsTerminal(os.Stdout)}
	if n != nil {
		lo.Lines = *n
	}
	if since != nil {
		lo.Since = *since
	}
	if grep != nil {
		lo.Grep = *grep
	}
	if err := lo.Check(); err != nil {
		return err
	}
	var hosts []applogs.Host
	for _, h := range o.Hosts {
		c, err := remote.Dial(ctx, remote.Options{Alias: h, ConfigPath: o.SSHConfig, Log: targetLog()})
		if err != nil {
			return err
		}
		defer c.Close()
		hosts = append(hosts, applogs.Host{Alias: h, Conn: c})
	}
	return applogs.Run(ctx, hosts, o.Service, lo, os.Stdout)
}

// ---- settings ----

// Env changes and compares the service's env file on every $DEPLOY_HOST: env:set, env:unset, env:list, env:diff.
// A change is checked by the live release, then applied with a deploy's
// handover (no failed request) and logged in deploy.log, never its value.
type Env mg.Namespace

// Set sets KEY in the env file on every host; the value comes from stdin, or a prompt without echo, never argv: env:set KEY [-force].
// Every host is reached, locked and has the live release load the new file
// before any changes; then each restarts with it as a deploy does. A name
// the app doesn't read is refused unless -force.
func (Env) Set(ctx context.Context, key string, force *bool) error {
	v, err := envfile.ReadValue(key, os.Stdin, os.Stderr)
	if err != nil {
		return err
	}
	return setEnv(ctx, envfile.Change{Key: key, Value: v}, force)
}

// Unset removes KEY from the env file on every host, as env:set changes it: env:unset KEY [-force].
func (Env) Unset(ctx context.Context, key string, force *bool) error {
	return setEnv(ctx, envfile.Change{Key: key, Unset: true}, force)
}

func setEnv(ctx context.Context, ch envfile.Change, force *bool) error {
	o, err := deployOptions()
	if err != nil {
		return err
	}
	_, err = deploy.SetEnv(ctx, o, ch, force != nil && *force)
	return err
}

// List prints the names in each host's env file, never a value; -values shows the values, on a terminal only, after you confirm.
func (Env) List(ctx context.Context, values *bool) error {
	o, err := deployOptions()
	if err != nil {
		return err
	}
	if values == nil || !*values {
		_, err = deploy.ListEnv(ctx, o)
		return err
	}
	confirm := func(prompt string) (bool, error) {
		fmt.Fprint(os.Stderr, prompt)
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		return strings.TrimSpace(line) == "yes", err
	}
	return deploy.ListEnvValues(ctx, o, password.IsTerminal(os.Stdout) && password.IsTerminal(os.Stdin), confirm)
}

// Diff prints the names whose values differ between the hosts of $DEPLOY_HOST, compared by a hash made on each server: values never travel.
func (Env) Diff(ctx context.Context) error {
	o, err := deployOptions()
	if err != nil {
		return err
	}
	_, err = deploy.DiffEnv(ctx, o)
	return err
}

// ---- deploy ----

// Deploy ships bin/app to $DEPLOY_HOST (ssh config aliases, comma-separated: one at a time), without a stall.
// Upload into a new release, sha256 checked on the server; the server then
// starts it beside the live release on the same socket and switches to it
// only once it is ready with the new commit; not ready: it is stopped and
// the live release never stopped.
// -dryRun prints the resolved ssh connection and the steps, connecting nowhere.
func Deploy(ctx context.Context, dryRun *bool) error {
	mg.CtxDeps(ctx, CheckMigrations)
	o, err := deployOptions()
	if err != nil {
		return err
	}
	_, err = deploy.Deploy(ctx, o, dryRun != nil && *dryRun)
	return err
}

// Rollback switches $DEPLOY_HOST back to its previous release (or -release=<id or prefix>) as deploy does: beside the live one, once ready.
func Rollback(ctx context.Context, release *string) error {
	o, err := deployOptions()
	if err != nil {
		return err
	}
	name := ""
	if release != nil {
		name = *release
	}
	return deploy.Rollback(ctx, o, name)
}

// Status shows each $DEPLOY_HOST's current release, served version, which instance runs which release, releases, lock and last deploys.
// -json prints the same as one JSON document (field names in docs/deploy.md).
func Status(ctx context.Context, json *bool) error {
	o, err := deployOptions()
	if err != nil {
		return err
	}
	if json != nil && *json {
		return deploy.StatusJSON(ctx, o, 10)
	}
	return deploy.Status(ctx, o, 10)
}

// ---- backups ----

// Backup dumps $DEPLOY_HOST's database now, on the server, into DEPLOY_PATH/backups (see docs/backups.md).
// Deploy takes one on its own before a release whose migrations are
// pending; DEPLOY_KEEP_BACKUPS (default 5) stay.
func Backup(ctx context.Context) error {
	o, err := deployOptions()
	if err != nil {
		return err
	}
	_, err = deploy.Backup(ctx, o)
	return err
}

// Backups lists each $DEPLOY_HOST's backups, newest first: id, when, size, schema version, release.
func Backups(ctx context.Context) error {
	o, err := deployOptions()
	if err != nil {
		return err
	}
	all, err := deploy.Backups(ctx, o)
	if err != nil {
		return err
	}
	for _, h := range o.Hosts {
		dbbackup.Print(os.Stdout, h, all[h])
	}
	return nil
}

// Restore brings $DEPLOY_HOST's database back to a backup: restore -backup=ID [-yes].
// It backs up the database as it is first (undo), restores into a fresh
// database, checks it, swaps it in and starts the release whose migrations
// match its schema version; it prints the downtime of the swap. It asks
// first on a terminal; -yes confirms from a script.
func Restore(ctx context.Context, backup *string, yes *bool) error {
	if backup == nil || *backup == "" {
		return errors.New("restore: name the backup with -backup=ID (`go run mage.go backups` lists them)")
	}
	o, err := deployOptions()
	if err != nil {
		return err
	}
	_, err = deploy.Restore(ctx, o, deploy.RestoreOptions{Backup: *backup, Confirm: dbbackup.Confirm(os.Stdin, os.Stdout, yes != nil && *yes)})
	return err
}

// PullDB replaces the local development database with $DEPLOY_HOST's newest backup: pullDB [-fresh] [-force].
// -fresh takes a backup now and pulls that one. Refused, like resetDB, when
// the local database isn't on this machine or APP_ENV=production, unless
// -force. The data is production's: keep it on this machine.
func PullDB(ctx context.Context, fresh, force *bool) error {
	o, err := deployOptions()
	if err != nil {
		return err
	}
	return devdb.PullDB(ctx, devDB(force), func(dst string) (string, error) {
		id, err := deploy.FetchBackup(ctx, o, "", fresh != nil && *fresh, dst)
		return "backup " + id + " of " + o.Hosts[0], err
	})
}

// deployOptions reads the DEPLOY_* and APP_* settings.
func deployOptions() (deploy.Options, error) {
	o, err := deploy.FromEnv(os.Getenv)
	o.Stdout, o.Log = os.Stdout, targetLog()
	return o, err
}

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
	o := bench.BackupOptions{RigOptions: bench.RigOptions{Root: root(), SandboxOptions: sandbox.FromEnv(os.Getenv), Stdout: os.Stdout, Log: targetLog()}}
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
	d, err := deployOptions()
	if err != nil {
		return err
	}
	o := bench.UploadOptions{Host: d.Hosts[0], SSHConfig: d.SSHConfig, Binary: d.Binary, Log: d.Log}
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
// with the requests that release answered; last, deploys with the load
// through HTTPS (Caddy, a Pebble certificate). -deploys sets the deploys under
// load per scenario, -rate the requests per second on /readyz (default 100).
func (Bench) Deploy(ctx context.Context, deploys, rate *int) error {
	o := bench.DeployOptions{RigOptions: bench.RigOptions{Root: root(), SandboxOptions: sandbox.FromEnv(os.Getenv), Stdout: os.Stdout, Log: targetLog()}}
	if deploys != nil {
		o.Deploys = *deploys
	}
	if rate != nil {
		o.Rate = *rate
	}
	res, err := bench.Deploy(ctx, o)
	if err != nil {
		return err
	}
	res.Print(os.Stdout)
	return nil
}
