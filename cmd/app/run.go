package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/slipway-dev/slipway/internal/admin"
	"github.com/slipway-dev/slipway/internal/config"
	"github.com/slipway-dev/slipway/internal/logging"
	"github.com/slipway-dev/slipway/internal/metrics"
	"github.com/slipway-dev/slipway/internal/migrate"
	"github.com/slipway-dev/slipway/internal/password"
	"github.com/slipway-dev/slipway/internal/postgres"
	"github.com/slipway-dev/slipway/internal/version"
	"github.com/slipway-dev/slipway/internal/watchdog"
	"github.com/slipway-dev/slipway/internal/web"
	"github.com/slipway-dev/slipway/migrations"
)

const usage = `usage: app [command]

commands:
  serve [-no-migrate]   apply pending migrations, then serve HTTP (the default)
  migrate status        list migrations and whether each is applied
  migrate up            apply all pending migrations
  migrate up-to V       apply pending migrations up to version V
  migrate down          roll back the most recent migration
  migrate down-to V     roll back every migration above version V
  migrate version       print the database's migration version
  admin create -email E [-reset-password]
                        create an admin (password read from stdin, never argv);
                        an existing email changes nothing unless -reset-password
  config check          load the settings as serve would, without connecting:
                        every bad value, DATABASE_URL parsed (env:set runs it)
  version               print the build's version, commit and Go version

environment:
`

// run is the whole program; main only maps its error to an exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
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
		printUsage(stdout)
		return nil
	case "config":
		return configCmd(args, getenv, stdout)
	}
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		return err
	}
	log := logging.New(stderr, cfg.LogFormat, getenv)
	switch cmd {
	case "serve":
		// A server's output is its log: stdout, which journald keeps. The
		// other commands print results on stdout and log on stderr.
		return serve(ctx, args, cfg, getenv, logging.New(stdout, cfg.LogFormat, getenv))
	case "migrate":
		return migrateCmd(ctx, args, cfg, log, stdout)
	case "admin":
		return adminCmd(ctx, args, cfg, log, stdin, stdout, stderr)
	}
	return fmt.Errorf("unknown command %q: run `app help` for the list", cmd)
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, usage)
	for _, v := range config.Vars {
		def := v.Default
		if def == "" {
			def = "required"
		}
		fmt.Fprintf(w, "  %-24s %s (%s)\n", v.Name, v.Doc, def)
	}
}

func serve(ctx context.Context, args []string, cfg config.Config, getenv func(string) string, log *slog.Logger) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	noMigrate := fs.Bool("no-migrate", cfg.NoMigrate, "skip the startup migration")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("serve: %v: run `app help`", err)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	d, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	pool, m := d.pool, d.m
	met := metrics.New(version.Get())
	met.WatchPool(pool)
	// Pings systemd's watchdog (WatchdogSec=) only while the database answers.
	go watchdog.Run(ctx, pool.Ping, log)
	if *noMigrate {
		log.Info("startup migration skipped (NO_MIGRATE / -no-migrate)")
	} else {
		start := time.Now()
		res, err := m.Up(ctx)
		if err != nil {
			return err
		}
		met.Migrated(len(res.Applied), time.Since(start))
	}
	ls, err := web.Listen(cfg.Addr)
	if err != nil {
		return err
	}
	ln, activated := ls.App, ls.Activated
	if activated {
		log.Info("using the socket passed by systemd", "front_door", ls.Proxy != nil)
	}
	if err := checkInsecureCookies(cfg, ln.Addr(), activated); err != nil {
		ln.Close()
		return err
	}
	if cfg.CookieInsecure {
		log.Warn("COOKIE_INSECURE is set: cookies lack Secure and the __Host- prefix; this is for the dev target on loopback only")
	}
	adm := admin.Disabled("PASSWORD_PEPPER is not set in the service's environment")
	if cfg.PasswordPepper == "" {
		log.Warn("admin area disabled: PASSWORD_PEPPER is not set")
	} else {
		hasher, err := password.New(cfg.PasswordPepper, password.Default)
		if err != nil {
			return err
		}
		auth, err := admin.NewAuth(pool, hasher, admin.AuthOptions{
			Gate: admin.NewGate(cfg.LoginHashConcurrency, admin.DefaultHashWait)})
		if err != nil {
			return err
		}
		go auth.RunPruner(ctx, log)
		limitMemory(cfg.LoginHashConcurrency, log)
		adm = admin.New(auth, pool, log, version.Get(), admin.Options{Proxies: cfg.TrustedProxies, InsecureCookies: cfg.CookieInsecure})
	}
	// /readyz shows only the Reason of these: the database's own error
	// text goes to the log (issue 25, item 11).
	ready := func(ctx context.Context) error {
		if err := pool.Ping(ctx); err != nil {
			return &web.NotReady{Reason: "database unreachable", Cause: err}
		}
		pending, err := m.Pending(ctx)
		if err != nil {
			return &web.NotReady{Reason: "database error", Cause: err}
		}
		if pending {
			return &web.NotReady{Reason: "migrations pending"}
		}
		return nil
	}
	h := met.Instrument(web.NewServer(web.Deps{
		Log:     log,
		Admin:   adm,
		Version: version.Get(),
		Ready:   ready,
	}))
	switch {
	case cfg.MetricsAddr == "":
		log.Info("metrics off (METRICS_ADDR=off)")
	case cfg.MetricsToken == "":
		// Every local user reaches loopback: no token, no metrics.
		log.Warn("metrics off: set METRICS_TOKEN in the env file (and give it to the scraper), or METRICS_ADDR=off", "addr", cfg.MetricsAddr)
	default:
		if !loopback(cfg.MetricsAddr) {
			log.Warn("metrics served beyond loopback: restrict who reaches METRICS_ADDR (firewall)", "addr", cfg.MetricsAddr)
		}
		go metrics.Serve(ctx, cfg.MetricsAddr, metrics.Protect(cfg.MetricsToken, met.Handler()), log)
	}
	o := web.ServeOptions{
		Log: log, ShutdownTimeout: cfg.ShutdownTimeout, DrainDelay: 250 * time.Millisecond,
		Status: readyStatus(version.Get(), getenv("SLIPWAY_RELEASE")),
		Proxy:  ls.Proxy,
	}
	// On systemd's socket, shared with the live release during a deploy:
	// not one connection before /readyz would say ready. Alone on its own
	// port (dev, tests) the app serves at once and /readyz says why not.
	if activated {
		o.Ready = ready
	}
	return web.Serve(ctx, ln, h, o)
}

// loopback reports whether addr's host is a loopback IP or localhost.
func loopback(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// readyStatus is the STATUS= line sent with READY=1; deploy matches its
// " commit=<commit> " word on the instance it started.
func readyStatus(v version.Info, release string) string {
	s := fmt.Sprintf("serving version=%s commit=%s", v.Version, v.Commit)
	if release != "" {
		s += " release=" + release
	}
	return s
}

// limitMemory sets Go's soft memory limit, unless GOMEMLIMIT did, to the
// hashes that may run at once (LOGIN_HASH_CONCURRENCY, and the slot kept
// for known browsers) plus headroom for the rest of the app. Each
// hash leaves 64 MiB of garbage; without a limit the collector lets the
// heap grow to twice what was live before collecting, which doubled the
// peak of a login flood (measured by `go run mage.go bench:login`). A soft
// limit makes it collect sooner; it never refuses an allocation.
func limitMemory(hashes int, log *slog.Logger) {
	if debug.SetMemoryLimit(-1) != math.MaxInt64 {
		return // GOMEMLIMIT is set
	}
	limit := int64(hashes+1)*admin.HashMemory + 64<<20 // +1: the known browsers' slot
	debug.SetMemoryLimit(limit)
	log.Debug("Go memory limit", "bytes", limit)
}

// checkInsecureCookies refuses COOKIE_INSECURE wherever real clients could
// be: cookies without Secure then cross the network in clear. The dev
// target listens on loopback by itself; production has a socket from
// systemd or a reverse proxy in TRUSTED_PROXIES.
func checkInsecureCookies(cfg config.Config, addr net.Addr, activated bool) error {
	if !cfg.CookieInsecure {
		return nil
	}
	tcp, ok := addr.(*net.TCPAddr)
	switch {
	case activated:
		return errors.New("COOKIE_INSECURE=true with a socket from systemd: that is a server, unset COOKIE_INSECURE (it is for the dev target)")
	case !cfg.TrustedProxies.Empty():
		return errors.New("COOKIE_INSECURE=true with TRUSTED_PROXIES: behind a proxy the cookies must be Secure, unset COOKIE_INSECURE")
	case !ok || !tcp.IP.IsLoopback():
		return fmt.Errorf("COOKIE_INSECURE=true while listening on %s: insecure cookies only on loopback (ADDR=127.0.0.1:8080), or unset COOKIE_INSECURE", addr)
	}
	return nil
}

// database is what every database command holds: the pool, and the
// migrations over it.
type database struct {
	pool *pgxpool.Pool
	db   *sql.DB
	m    *migrate.Migrator
}

func (d *database) Close() {
	d.db.Close()
	d.pool.Close()
}

// open checks DATABASE_URL, connects and loads the migrations.
func open(ctx context.Context, cfg config.Config, log *slog.Logger) (*database, error) {
	if err := cfg.RequireDatabase(); err != nil {
		return nil, err
	}
	pool, err := postgres.Open(ctx, cfg.DatabaseURL, cfg.DBWait, log)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDBFromPool(pool)
	m, err := migrate.New(db, migrations.FS, migrate.WithLogger(log), migrate.WithLockWait(cfg.MigrationLockWait))
	if err != nil {
		db.Close()
		pool.Close()
		return nil, err
	}
	return &database{pool: pool, db: db, m: m}, nil
}

// configCmd is `app config check`: the settings loaded and checked as
// serve would, every problem at once, nothing connected. env:set runs it
// with a candidate env file before the file goes live.
func configCmd(args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) != 1 || args[0] != "check" {
		return errors.New("config: use `app config check`")
	}
	if _, err := config.Check(getenv); err != nil {
		return fmt.Errorf("config check: %w", err)
	}
	fmt.Fprintln(stdout, "config check: ok")
	return nil
}
