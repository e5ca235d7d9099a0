package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/notify"
	"github.com/slipway-dev/slipway/internal/procstart"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/service"
)

// DefaultHost is the project's deploy target when DEPLOY_HOST is unset: the
// alias the seed's `scp bin/app bleeding-edge:/home/admin` used.
const DefaultHost = "bleeding-edge"

// Defaults of the tunable waits and the number of releases kept.
const (
	DefaultReadyTimeout = 2 * time.Minute
	DefaultKeep         = 5
)

// Options configures Deploy, Rollback and Status.
type Options struct {
	// Hosts are ssh config aliases, deployed one at a time in this order.
	Hosts []string
	// SSHConfig is the ssh config file ("" is ~/.ssh/config).
	SSHConfig string
	// Binary is the release binary; its checksum is Binary + ".sha256".
	Binary string
	// Service describes the app's service (DeployPath, ListenAddr, ...).
	Service service.Config
	// ReadyTimeout bounds the new instance's start (migrations included)
	// until it is ready; one that is not by then is stopped.
	ReadyTimeout time.Duration
	// LockWait is how long to wait for another deploy's lock (0: fail at once).
	LockWait time.Duration
	// Keep is how many releases stay on disk (current and previous always do).
	Keep int
	// Getenv reads SSH_AUTH_SOCK and the DEPLOY_SSH_* settings; nil is
	// os.Getenv.
	Getenv func(string) string
	// Stdout receives the steps and progress; Log debug details.
	Stdout io.Writer
	Log    *slog.Logger
	// Progress forces the terminal progress bar on (true) or plain lines;
	// nil decides by whether Stdout is a terminal.
	Progress *bool
	// Who names the person deploying in the lock and the log (user@host).
	Who string
	// Start is when the user's command started (mage's start-up included):
	// deploy.log's duration is the wall time the user waited. Zero is when
	// Deploy or Rollback was called.
	Start time.Time
	// Step, when set, hears each step a deploy reaches on a host, in order:
	// "locked", "uploading" (half the binary sent), "shipped", "backup"
	// (one is being taken), "handover" (about to hand the switch over) and
	// "switched" (the server reported); a restore's "confirmed",
	// "preparing" and "swapping". The kill tests pause a client process
	// there to kill it.
	Step func(name string)
	// Notify, when set (DEPLOY_NOTIFY_URL), hears how each host's deploy or
	// rollback ended.
	Notify *notify.Notifier
	// NoBackup (DEPLOY_BACKUP=off) skips the backup before migrations;
	// KeepBackups (DEPLOY_KEEP_BACKUPS, 0: backup.DefaultKeep) is how many
	// stay on the server.
	NoBackup    bool
	KeepBackups int
}

func (o Options) step(name string) {
	if o.Step != nil {
		o.Step(name)
	}
}

// FromEnv reads DEPLOY_HOST, DEPLOY_PATH, DEPLOY_SSH_CONFIG, the
// DEPLOY_SSH_* settings of a host with no ssh config (remote.EnvHostName
// and the rest: checked here, used when connecting), DEPLOY_READY_TIMEOUT, DEPLOY_LOCK_WAIT, DEPLOY_KEEP, DEPLOY_NOTIFY_URL,
// DEPLOY_BACKUP, DEPLOY_KEEP_BACKUPS and the service's
// APP_* settings, reporting every bad value at once.
func FromEnv(getenv func(string) string) (Options, error) {
	o := Options{
		SSHConfig:    getenv("DEPLOY_SSH_CONFIG"),
		Binary:       "bin/app",
		ReadyTimeout: DefaultReadyTimeout,
		Keep:         DefaultKeep,
		Getenv:       getenv,
	}
	var errs []error
	hosts := getenv("DEPLOY_HOST")
	if hosts == "" {
		hosts = DefaultHost
	}
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			o.Hosts = append(o.Hosts, h)
		}
	}
	if len(o.Hosts) == 0 {
		errs = append(errs, fmt.Errorf("DEPLOY_HOST=%q: name one or more ssh config aliases, separated by commas", hosts))
	}
	if err := remote.CheckEnv(getenv); err != nil {
		errs = append(errs, err)
	}
	if len(o.Hosts) > 1 && remote.UsesHostName(getenv) {
		errs = append(errs, fmt.Errorf("DEPLOY_HOST=%q names several hosts, but %s is one server's address: for several hosts, write an ssh config (DEPLOY_SSH_CONFIG) with a Host entry each", hosts, remote.EnvHostName))
	}
	var err error
	if o.Service, err = service.ConfigFromEnv(getenv); err != nil {
		errs = append(errs, err)
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"DEPLOY_READY_TIMEOUT", &o.ReadyTimeout}, {"DEPLOY_LOCK_WAIT", &o.LockWait}} {
		v := getenv(d.name)
		if v == "" {
			continue
		}
		if *d.dst, err = time.ParseDuration(v); err != nil || *d.dst < 0 {
			errs = append(errs, fmt.Errorf("%s=%q: use a duration such as 90s or 5m", d.name, v))
		}
	}
	// Set by mage.go: when the user's `go run mage.go ...` started. Unset
	// (a compiled magefile, mage on PATH): when this process started.
	if v := getenv("SLIPWAY_COMMAND_START"); v != "" {
		if ns, err := strconv.ParseInt(v, 10, 64); err == nil && ns > 0 {
			o.Start = time.Unix(0, ns)
		}
	} else if t, _, err := procstart.Of(os.Getpid()); err == nil {
		o.Start = t
	}
	if v := getenv("DEPLOY_NOTIFY_URL"); v != "" {
		if o.Notify, err = notify.New(v); err != nil {
			errs = append(errs, err)
		}
	}
	if v := getenv("DEPLOY_KEEP"); v != "" {
		if o.Keep, err = strconv.Atoi(v); err != nil || o.Keep < 2 {
			errs = append(errs, fmt.Errorf("DEPLOY_KEEP=%q: use a number of releases, at least 2", v))
		}
	}
	errs = append(errs, backupFromEnv(getenv, &o)...)
	return o, errors.Join(errs...)
}

func (o Options) withDefaults() Options {
	if o.Binary == "" {
		o.Binary = "bin/app"
	}
	if o.Service.AppName == "" {
		o.Service = service.DefaultConfig()
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	if o.Keep < 2 {
		o.Keep = DefaultKeep
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Who == "" {
		o.Who = whoAmI()
	}
	if o.Start.IsZero() {
		o.Start = time.Now()
	}
	return o
}

// whoAmI is user@hostname of the person deploying.
func whoAmI() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if sudo := os.Getenv("SUDO_USER"); sudo != "" {
		name = sudo
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

func (o Options) printf(format string, args ...any) {
	fmt.Fprintf(o.Stdout, format+"\n", args...)
}

// notify posts how kind (deploy or rollback) ended on host, in the
// background: Deploy and Rollback wait for it (bounded) before returning.
func (o Options) notify(ctx context.Context, kind, host, release string, v Version, outcome string, err error) {
	if o.Notify == nil {
		return
	}
	if err != nil && (outcome == "" || outcome == OutcomeOK) {
		outcome = OutcomeFailed
	}
	e := notify.Event{Kind: kind, Host: host, Outcome: outcome, Version: v.Version, Commit: v.Commit, Release: release,
		Duration: since(o.Start).Seconds(), Who: o.Who}
	if err != nil {
		e.Cause = err.Error()
	}
	e.Text = notify.Summary(e)
	o.Notify.Go(ctx, e)
}

// notified waits for the notifications sent and prints why any failed.
func (o Options) notified() {
	for _, w := range o.Notify.Wait() {
		o.printf("warning: %s", w)
	}
}
