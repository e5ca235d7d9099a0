package service

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"path"
	"regexp"
	"strconv"
	"time"

	"github.com/slipway-dev/slipway/internal/helper"
)

// Config describes the app's service on the server. The zero value is not
// usable: start from ConfigFromEnv or DefaultConfig.
type Config struct {
	// AppName names the units (<app>.service, <app>.socket), the env file
	// (/etc/<app>/<app>.env) and, by default, the service user. APP_NAME.
	AppName string
	// DeployPath holds releases/<id>/app and the current symlink. DEPLOY_PATH.
	DeployPath string
	// ListenAddr is the socket's ListenStream (host:port). APP_LISTEN.
	ListenAddr string
	// ServiceUser is the unprivileged system user the app runs as. APP_USER.
	ServiceUser string
	// Watchdog is WatchdogSec: systemd restarts the app when it misses its
	// pings, which it sends only while the database answers. 0 disables it.
	// APP_WATCHDOG.
	Watchdog time.Duration
	// StartTimeout is TimeoutStartSec: READY=1 comes after the migrations, so
	// it must cover DB_WAIT + MIGRATION_LOCK_WAIT + the longest migration.
	// APP_START_TIMEOUT.
	StartTimeout time.Duration
	// StopTimeout is TimeoutStopSec: it must exceed the app's
	// SHUTDOWN_TIMEOUT (30s) plus its drain delay, or systemd kills
	// requests the app is still finishing.
	StopTimeout time.Duration
	// MemoryMax is the unit's MemoryMax (e.g. 512M): past it the kernel
	// reclaims, then kills the app instead of the server's other services,
	// PostgreSQL first among them. APP_MEMORY_MAX.
	MemoryMax string
	// DatabaseURL is the variable of the env file that holds the app's
	// database URL (the app's own name for it); "" is DATABASE_URL. The
	// targets' Project.DatabaseURL.
	DatabaseURL string
}

// DatabaseURLVar is DatabaseURL, or DATABASE_URL when unset.
func (c Config) DatabaseURLVar() string {
	if c.DatabaseURL == "" {
		return "DATABASE_URL"
	}
	return c.DatabaseURL
}

// MinMemoryMax is the smallest APP_MEMORY_MAX accepted: the app's own
// ~100 MB plus the three login hashes of 64 MiB the app's defaults allow
// (LOGIN_HASH_CONCURRENCY=2, and the known browsers' slot) need ~300 MB.
const MinMemoryMax = 320 << 20

// UnitDir is where the units are installed.
const UnitDir = "/etc/systemd/system"

// DefaultApp is the default APP_NAME. Its DEPLOY_PATH, APP_LISTEN and
// metrics address are the ones every Slipway before v0.3 used for any name.
const DefaultApp = "app"

// Defaults of another APP_NAME, so that several apps share a server
// without a setting: DEPLOY_PATH /srv/<name>, APP_LISTEN 127.0.0.1 on a
// port read from the name (PortBase + FNV-1a(name) % PortSpan), and
// /metrics on that port + MetricsOffset. The ranges miss 8080 and 9090 (the
// default app's); two names that land on one port are refused by provision,
// naming the other app.
const (
	PortBase      = 8100
	PortSpan      = 800
	MetricsOffset = 1010
)

// NamePort is the default APP_LISTEN port of the APP_NAME name (8080 for
// DefaultApp).
func NamePort(name string) int {
	if name == DefaultApp {
		return 8080
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return PortBase + int(h.Sum32()%PortSpan)
}

// DefaultsFor is DefaultConfig with the folder and ports of the APP_NAME
// name: today's for DefaultApp, /srv/<name> and NamePort for another.
func DefaultsFor(name string) Config {
	c := DefaultConfig()
	if name == DefaultApp {
		return c
	}
	c.AppName, c.ServiceUser = name, name
	c.DeployPath = "/srv/" + name
	c.ListenAddr = "127.0.0.1:" + strconv.Itoa(NamePort(name))
	return c
}

// MetricsAddr is where the app's /metrics listens by default: "" for
// DefaultApp (the app's own default, 127.0.0.1:9090, as before), else
// 127.0.0.1 on APP_LISTEN's port + MetricsOffset, set in the instances'
// unit (Environment=, which METRICS_ADDR in the env file overrides).
func (c Config) MetricsAddr() string {
	if c.AppName == DefaultApp {
		return ""
	}
	return "127.0.0.1:" + strconv.Itoa(metricsPort(c.ListenAddr))
}

// metricsPort is listen's port + MetricsOffset (minus it past 65535).
func metricsPort(listen string) int {
	_, p, _ := net.SplitHostPort(listen)
	n, _ := strconv.Atoi(p)
	if n+MetricsOffset > 65535 {
		return n - MetricsOffset
	}
	return n + MetricsOffset
}

// DefaultConfig returns the defaults of DefaultApp.
func DefaultConfig() Config {
	return Config{
		AppName:      DefaultApp,
		DeployPath:   "/home/admin",
		ListenAddr:   "127.0.0.1:8080",
		ServiceUser:  "app",
		StartTimeout: 15 * time.Minute,
		StopTimeout:  45 * time.Second,
		MemoryMax:    "512M",
	}
}

// ConfigFromEnv reads APP_NAME, DEPLOY_PATH, APP_LISTEN, APP_USER,
// APP_MEMORY_MAX, APP_WATCHDOG and APP_START_TIMEOUT over the defaults of
// APP_NAME (DefaultsFor), and reports every bad value at once.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := DefaultConfig()
	var errs []error
	if v := getenv("APP_NAME"); v != "" {
		if nameRE.MatchString(v) {
			c = DefaultsFor(v)
		} else {
			c.AppName, c.ServiceUser = v, v
		}
	}
	if v := getenv("DEPLOY_PATH"); v != "" {
		c.DeployPath = path.Clean(v)
	}
	if v := getenv("APP_LISTEN"); v != "" {
		c.ListenAddr = v
	}
	if v := getenv("APP_USER"); v != "" {
		c.ServiceUser = v
	}
	if v := getenv("APP_MEMORY_MAX"); v != "" {
		c.MemoryMax = v
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"APP_WATCHDOG", &c.Watchdog}, {"APP_START_TIMEOUT", &c.StartTimeout}} {
		v := getenv(d.name)
		if v == "" {
			continue
		}
		var err error
		if *d.dst, err = time.ParseDuration(v); err != nil || *d.dst < 0 {
			errs = append(errs, fmt.Errorf("%s=%q: use a duration such as 30s or 15m", d.name, v))
		}
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

var (
	// Names end up in unit files, paths and shell commands: keep them to
	// characters that need no quoting anywhere.
	nameRE    = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,30}$`)
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	memoryRE  = regexp.MustCompile(`^([1-9][0-9]{0,6})([KMGT])$`)
	pathRE    = regexp.MustCompile(`^(/[A-Za-z0-9._-]+)+$`)
)

// Validate reports every setting that would produce a broken unit.
func (c Config) Validate() error {
	var errs []error
	if c.DatabaseURL != "" && !envNameRE.MatchString(c.DatabaseURL) {
		errs = append(errs, fmt.Errorf("database URL variable %q: use letters, digits and _ (an environment variable name)", c.DatabaseURL))
	}
	if !nameRE.MatchString(c.AppName) {
		errs = append(errs, fmt.Errorf("APP_NAME=%q: use lower-case letters, digits, - and _ (a unit and user name)", c.AppName))
	}
	if !nameRE.MatchString(c.ServiceUser) || c.ServiceUser == "root" {
		errs = append(errs, fmt.Errorf("APP_USER=%q: use a dedicated unprivileged user name", c.ServiceUser))
	}
	if !pathRE.MatchString(c.DeployPath) || path.Clean(c.DeployPath) != c.DeployPath {
		errs = append(errs, fmt.Errorf("DEPLOY_PATH=%q: use a clean absolute path of letters, digits, ., _ and -", c.DeployPath))
	}
	host, port, err := net.SplitHostPort(c.ListenAddr)
	if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 || net.ParseIP(host) == nil {
		errs = append(errs, fmt.Errorf("APP_LISTEN=%q: use ip:port, e.g. 127.0.0.1:8080 behind a reverse proxy", c.ListenAddr))
	}
	if n, ok := memoryBytes(c.MemoryMax); !ok || n < MinMemoryMax {
		errs = append(errs, fmt.Errorf("APP_MEMORY_MAX=%q: use a size with a K, M, G or T suffix of at least 320M, e.g. 512M or 1G", c.MemoryMax))
	}
	if c.Watchdog != 0 && c.Watchdog < 2*time.Second {
		errs = append(errs, fmt.Errorf("APP_WATCHDOG=%s: use 0 (off) or at least 2s", c.Watchdog))
	}
	if c.StartTimeout < time.Minute {
		errs = append(errs, fmt.Errorf("APP_START_TIMEOUT=%s: use at least 1m, startup includes migrations", c.StartTimeout))
	}
	if c.StopTimeout < 35*time.Second {
		errs = append(errs, fmt.Errorf("stop timeout %s: must exceed the app's 30s SHUTDOWN_TIMEOUT", c.StopTimeout))
	}
	return errors.Join(errs...)
}

// memoryBytes reads a systemd size such as 512M (base 1024, as systemd).
func memoryBytes(s string) (int64, bool) {
	m := memoryRE.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	shift := map[string]uint{"K": 10, "M": 20, "G": 30, "T": 40}[m[2]]
	return n << shift, true
}

// ServiceUnit is the single service of the layout before releases ran as
// instances (app.service, current/app). Provision and deploy move a server
// off it; the benchmark keeps it as today's restart in place.
func (c Config) ServiceUnit() string { return c.AppName + ".service" }

// TemplateUnit is the release instances' template, e.g. app@.service.
func (c Config) TemplateUnit() string { return c.AppName + "@.service" }

// InstanceUnit runs one release, e.g. app@20260102T030405Z-0123456789ab.service.
func (c Config) InstanceUnit(release string) string { return c.AppName + "@" + release + ".service" }

// InstanceName is the instance of release's generation gen: the release id
// for 0, <release>.g<n> after it. env:set starts the live release again
// under the next generation, beside the running one.
func (c Config) InstanceName(release string, gen int) string {
	if gen == 0 {
		return release
	}
	return release + ".g" + strconv.Itoa(gen)
}

// InstancePattern matches every release instance, for systemctl and journalctl.
func (c Config) InstancePattern() string { return c.AppName + "@*.service" }

// CurrentUnit is the socket's own service, e.g. app-current.service: it stays
// active so the socket never activates anything itself, and at boot it starts
// the instance of the release the current symlink names.
func (c Config) CurrentUnit() string { return c.AppName + "-current.service" }

// HandoverUnit matches the transient units a deploy's switch runs in on the
// server, e.g. app-handover-*.service (a pattern for systemctl and
// journalctl -u): each outlives the deploy's SSH session.
func (c Config) HandoverUnit() string { return c.AppName + "-handover-*.service" }

// HandoverUnitFor is one handover's unit, e.g.
// app-handover-<release>-<nanoseconds>.service: a name of its own, which
// systemd-run never finds taken by an earlier handover not yet unloaded.
func (c Config) HandoverUnitFor(tag string) string {
	return c.AppName + "-handover-" + tag + ".service"
}

// NotifyUnit is the template of the server's own alerts, e.g.
// app-notify@.service (helper.NotifyUnit): a unit with
// OnFailure=app-notify@%n.service posts to the server's DEPLOY_NOTIFY_URL.
func (c Config) NotifyUnit() string { return helper.NotifyUnit(c.AppName) }

// SocketUnit is the socket's unit name, e.g. app.socket.
func (c Config) SocketUnit() string { return c.AppName + ".socket" }

// EnvFile is the root-only file of secrets systemd loads into the app's
// environment, e.g. /etc/app/app.env.
func (c Config) EnvFile() string { return path.Join(c.EnvDir(), c.AppName+".env") }

// EnvDir holds EnvFile, e.g. /etc/app.
func (c Config) EnvDir() string { return path.Join("/etc", c.AppName) }

// ReleasesDir holds one folder per release, e.g. /home/admin/releases.
func (c Config) ReleasesDir() string { return path.Join(c.DeployPath, "releases") }

// CurrentLink is the symlink to the live release, e.g. /home/admin/current.
func (c Config) CurrentLink() string { return path.Join(c.DeployPath, "current") }

// PreviousLink is the symlink to the release before, e.g. /home/admin/previous.
func (c Config) PreviousLink() string { return path.Join(c.DeployPath, "previous") }

// Binary is the current release's binary, e.g. /home/admin/current/app.
func (c Config) Binary() string { return path.Join(c.CurrentLink(), "app") }
