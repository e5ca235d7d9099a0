package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/slipway-dev/slipway/internal/config"
	"github.com/slipway-dev/slipway/internal/logging"
	"github.com/slipway-dev/slipway/internal/version"
)

// Config is the app's part of the program; everything else (the commands,
// socket activation, readiness, the watchdog, the drain, the probes,
// /metrics) is the runtime's. Only Migrations is needed to serve.
type Config struct {
	// Migrations holds the app's goose SQL migrations at its top level:
	// the embed.FS of a `//go:embed *.sql` in the migrations folder (or
	// fs.Sub of a wider one). serve applies the pending ones at startup.
	Migrations fs.FS
	// Handler builds the app's own routes once the pool is open and the
	// migrations applied; an error stops serve before it takes a socket.
	// The runtime mounts /healthz, /readyz and /version (and /admin with
	// Admin) beside it, and they win over its same paths. nil serves the
	// runtime's routes alone.
	Handler func(Deps) (http.Handler, error)
	// DatabaseURL is the name of the environment variable holding the
	// PostgreSQL URL. "" is the name buildApp (and dev) stamped from the
	// magefile's targets.Project.DatabaseURL, so an app names it in one
	// place; a binary built otherwise reads DATABASE_URL. Every message
	// about the URL (`config check` included) names it.
	DatabaseURL string
	// Admin mounts Slipway's admin area under /admin (with PASSWORD_PEPPER
	// set) and adds the `admin create` command that createAdmin runs. Its
	// tables are Slipway's (users, sessions...): an app turning it on has
	// them in its own migrations. Adopters leave it off.
	Admin bool
	// Jobs run on a schedule, each from a systemd timer on the server
	// (`app job NAME`); see Job and docs/jobs.md.
	Jobs []Job
	// Workers run beside the web process, handed over with it at each
	// deploy (`app worker NAME`); see Worker.
	Workers []Worker
}

// Deps is what Config.Handler gets to build the app's routes.
type Deps struct {
	// Pool is the connection pool on the app's database, open and
	// migrated; the runtime closes it after the drain.
	Pool *pgxpool.Pool
	// Log is the process's logger: JSON under systemd, text on a
	// terminal (LOG_FORMAT), on stdout where journald keeps it.
	Log *slog.Logger
	// Getenv reads the app's own settings from the same environment as
	// the runtime's (os.Getenv under Main, a test's map under Run).
	Getenv func(string) string
	// Version and Commit are the build stamp (see the package doc).
	Version, Commit string
}

// argsEnv carries the arguments of `go run mage.go exec` (appexec.ArgsEnv,
// the same name): they reach the app there rather than in its argv, which
// any local user could read in ps while it runs. Its presence in the binary
// is what tells exec's launcher that this app reads it.
const argsEnv = "SLIPWAY_ARGS"

// Main runs the command line the package doc describes (serve by default)
// and exits: status 0, or 1 after one line "app: <what went wrong>" on
// stderr. Call it from main and nothing else.
func Main(c Config) {
	v, set := os.LookupEnv(argsEnv)
	args, err := argsOf(os.Args[1:], v, set)
	if err == nil {
		// Not for whatever the command might start.
		os.Unsetenv(argsEnv)
		err = Run(context.Background(), c, args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(1)
	}
}

// Run is Main without the exit and without the process: args are the
// arguments after the program name, getenv the environment, and the
// command's output goes to stdout (serve's log too) and stderr (the other
// commands' log). serve returns when ctx is done (or SIGTERM/SIGINT
// arrives) and the drain is over. Tests call it; Main calls it with os's.
func Run(ctx context.Context, c Config, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version":
		v := version.Get()
		fmt.Fprintf(stdout, "version %s\ncommit %s\ngo %s\n", v.Version, v.Commit, v.GoVersion)
		return nil
	case "help", "-h", "-help", "--help":
		printUsage(stdout, c)
		return nil
	case "config":
		return configCmd(c, args, getenv, stdout)
	}
	// A bad job or worker stops every command that could run one, and
	// `jobs`, which deploy asks of a new release before it goes live.
	if err := checkProcs(c); err != nil {
		return err
	}
	if cmd == "jobs" {
		return jobsCmd(c, args, stdout)
	}
	cfg, err := config.Load(getenv, urlVar(c))
	if err != nil {
		return err
	}
	log := logging.New(stderr, cfg.LogFormat, getenv)
	switch cmd {
	case "serve":
		// A server's output is its log: stdout, which journald keeps. The
		// other commands print results on stdout and log on stderr.
		return serve(ctx, c, args, cfg, getenv, logging.New(stdout, cfg.LogFormat, getenv))
	case "migrate":
		return migrateCmd(ctx, c, args, cfg, log, stdout)
	case "job":
		return jobCmd(ctx, c, args, cfg, getenv, log, stdout)
	case "worker":
		return workerCmd(ctx, c, args, cfg, getenv, log)
	case "admin":
		if c.Admin {
			return adminCmd(ctx, c, args, cfg, log, stdin, stdout, stderr)
		}
	}
	return fmt.Errorf("unknown command %q: run `app help` for the list", cmd)
}

const usageHead = `usage: app [command]

commands:
  serve [-no-migrate]   apply pending migrations, then serve HTTP (the default)
  migrate status        list migrations and whether each is applied
  migrate up            apply all pending migrations
  migrate up-to V       apply pending migrations up to version V
  migrate down          roll back the most recent migration
  migrate down-to V     roll back every migration above version V
  migrate version       print the database's migration version
  jobs [-json]          list the jobs and workers of this binary
  job NAME              run one job now, under its lock (its timer's command)
  worker NAME           run one worker until SIGTERM (its unit's command)
`

const usageAdmin = `  admin create -email E [-reset-password]
                        create an admin (password read from stdin, never argv);
                        an existing email changes nothing unless -reset-password
`

const usageTail = `  config check          load the settings as serve would, without connecting:
                        every bad value, DATABASE_URL parsed (env:set runs it)
  version               print the build's version, commit and Go version

environment:
`

func printUsage(w io.Writer, c Config) {
	fmt.Fprint(w, usageHead)
	if c.Admin {
		fmt.Fprint(w, usageAdmin)
	}
	fmt.Fprint(w, strings.Replace(usageTail, config.DefaultDatabaseURLVar, urlVar(c), 1))
	for i, v := range config.Vars {
		if config.AdminVars[v.Name] && !c.Admin {
			continue
		}
		name, def := v.Name, v.Default
		if i == 0 {
			name = urlVar(c)
		}
		if def == "" {
			def = "required"
		}
		fmt.Fprintf(w, "  %-24s %s (%s)\n", name, v.Doc, def)
	}
}

// urlVar is the database URL's variable name: the app's own choice, else
// the one the build stamped (targets.Project.DatabaseURL), else the default.
func urlVar(c Config) string {
	return cmp.Or(c.DatabaseURL, version.DatabaseURL, config.DefaultDatabaseURLVar)
}

// configCmd is `app config check`: the settings loaded and checked as
// serve would, every problem at once, nothing connected. env:set runs it
// with a candidate env file before the file goes live.
func configCmd(c Config, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) != 1 || args[0] != "check" {
		return errors.New("config: use `app config check`")
	}
	var extra []func(config.Config) error
	if c.Admin {
		extra = append(extra, config.CheckPepper)
	}
	if _, err := config.CheckFor(getenv, urlVar(c), extra...); err != nil {
		return fmt.Errorf("config check: %w", err)
	}
	fmt.Fprintln(stdout, "config check: ok")
	return nil
}
