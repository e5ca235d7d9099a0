package app

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/slipway-dev/slipway/internal/admin"
	"github.com/slipway-dev/slipway/internal/config"
	"github.com/slipway-dev/slipway/internal/metrics"
	"github.com/slipway-dev/slipway/internal/migrate"
	"github.com/slipway-dev/slipway/internal/postgres"
	"github.com/slipway-dev/slipway/internal/version"
	"github.com/slipway-dev/slipway/internal/watchdog"
	"github.com/slipway-dev/slipway/internal/web"
)

// serve is `app serve`: see the package doc, Serving.
func serve(ctx context.Context, c Config, args []string, cfg config.Config, getenv func(string) string, log *slog.Logger) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	noMigrate := fs.Bool("no-migrate", cfg.NoMigrate, "skip the startup migration")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("serve: %v: run `app help`", err)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	d, err := open(ctx, c, cfg, log)
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
	v := version.Get()
	var own http.Handler = http.NewServeMux() // nil Handler: the runtime's routes alone
	if c.Handler != nil {
		if own, err = c.Handler(Deps{Pool: pool, Log: log, Getenv: getenv, Version: v.Version, Commit: v.Commit}); err != nil {
			return fmt.Errorf("handler: %w", err)
		}
		if own == nil {
			return errors.New("handler: Config.Handler returned a nil http.Handler and no error")
		}
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
	var adm *admin.Handlers
	if c.Admin {
		if adm, err = adminArea(ctx, cfg, pool, log); err != nil {
			ln.Close()
			return err
		}
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
		Version: v,
		Ready:   ready,
		App:     own,
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
		Status: readyStatus(v, getenv("SLIPWAY_RELEASE")),
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

// open checks the database URL, connects and loads the migrations.
func open(ctx context.Context, c Config, cfg config.Config, log *slog.Logger) (*database, error) {
	if c.Migrations == nil {
		return nil, errors.New("app.Config.Migrations is nil: pass the embed.FS of your migrations folder (//go:embed *.sql)")
	}
	if err := cfg.RequireDatabase(); err != nil {
		return nil, err
	}
	pool, err := postgres.OpenNamed(ctx, cfg.DatabaseURLVar, cfg.DatabaseURL, cfg.DBWait, log)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDBFromPool(pool)
	m, err := migrate.New(db, c.Migrations, migrate.WithLogger(log), migrate.WithLockWait(cfg.MigrationLockWait))
	if err != nil {
		db.Close()
		pool.Close()
		return nil, err
	}
	return &database{pool: pool, db: db, m: m}, nil
}
