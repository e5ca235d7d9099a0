package service

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/helper/client"
)

// UnitMarker is in the first line of every unit Slipway writes: a unit file
// without it is someone else's and is never overwritten (APP_NAME=ssh would
// otherwise replace sshd's units and lock SSH out at the next boot).
const UnitMarker = helper.UnitMarker

// UserMarker is the GECOS field of the service user provision creates: an
// existing account without it belongs to someone else (postgres, sshd, a
// person) and running the app as it would hand the app their rights.
const UserMarker = helper.UserMarker

// privilegedGroups make their members root, or close to it (adm reads
// every log).
var privilegedGroups = []string{"root", "sudo", "wheel", "adm", "admin"}

// serverFacts is what the guard step found (helper.GuardArgs).
type serverFacts struct {
	foreignUnits  map[string]string // unit name → the file that holds it
	envDirForeign bool
	account       *account // nil: no such account
	groups        []string
	legacy        bool
	sshUser       string
	// apps are the server's Slipway apps by name, from their units.
	apps map[string]*installed
}

// installed is what a Slipway app's units on the server say.
type installed struct {
	listen, deployPath, metrics string
}

type account struct {
	name  string
	uid   int
	gecos string
	shell string
}

// checkServer refuses, before anything changes, names that belong to the
// server: units Slipway didn't write, an env folder it didn't make, an
// account it didn't create or one with privileges. units are the unit files
// about to be written.
func checkServer(ctx context.Context, r Runner, c Config, units []string) error {
	// The old layout's single service is never written but is retired (stopped,
	// disabled, removed) by provision and the handover: it must be ours too.
	out, err := client.Call(ctx, r, "guard", guardArgs(c, units))
	if err != nil {
		return fmt.Errorf("check the server's existing units and accounts: %w: %s", err, bytes.TrimSpace(out))
	}
	f, err := parseFacts(out)
	if err != nil {
		return err
	}
	return judge(c, f)
}

// guardArgs are the guard step's arguments for c, units the unit files
// about to be written.
func guardArgs(c Config, units []string) helper.GuardArgs {
	// The old layout's single service is never written but is retired (stopped,
	// disabled, removed) by provision and the handover: it must be ours too.
	units = append(slices.Clone(units), c.ServiceUnit())
	slices.Sort(units)
	units = slices.Compact(units)
	return helper.GuardArgs{App: c.AppName, User: c.ServiceUser, EnvDir: c.EnvDir(), EnvFile: c.EnvFile(), Units: units}
}

func parseFacts(out []byte) (serverFacts, error) {
	f := serverFacts{foreignUnits: map[string]string{}, apps: map[string]*installed{}}
	app := func(name string) *installed {
		if f.apps[name] == nil {
			f.apps[name] = &installed{}
		}
		return f.apps[name]
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "unit":
			fields := strings.SplitN(rest, " ", 3)
			if len(fields) == 3 && fields[1] == "foreign" {
				f.foreignUnits[fields[0]] = fields[2]
			}
		case "envdir":
			f.envDirForeign = true
		case "passwd":
			p := strings.Split(rest, ":")
			if len(p) != 7 {
				return f, fmt.Errorf("check the server's accounts: unexpected passwd line %q", rest)
			}
			uid, err := strconv.Atoi(p[2])
			if err != nil {
				return f, fmt.Errorf("check the server's accounts: unexpected passwd line %q", rest)
			}
			f.account = &account{name: p[0], uid: uid, gecos: p[4], shell: p[6]}
		case "groups":
			f.groups = strings.Fields(rest)
		case "legacy":
			f.legacy = true
		case "sshuser":
			f.sshUser = strings.TrimSpace(rest)
		case "socket":
			unit, listen, _ := strings.Cut(rest, " ")
			app(strings.TrimSuffix(unit, ".socket")).listen = strings.TrimSpace(listen)
		case "template":
			p := strings.Fields(rest)
			if len(p) == 3 {
				a := app(strings.TrimSuffix(p[0], "@.service"))
				a.deployPath, a.metrics = strings.TrimPrefix(p[1], "-"), strings.TrimPrefix(p[2], "-")
			}
		}
	}
	return f, nil
}

// judge turns the facts into one line per problem, each naming the setting
// and the way out.
func judge(c Config, f serverFacts) error {
	var errs []error
	var theirs []string
	for _, u := range slices.Sorted(maps.Keys(f.foreignUnits)) {
		theirs = append(theirs, fmt.Sprintf("%s (%s)", u, f.foreignUnits[u]))
	}
	if f.envDirForeign {
		theirs = append(theirs, c.EnvDir())
	}
	if len(theirs) > 0 {
		errs = append(errs, fmt.Errorf("APP_NAME=%s: %s already on the server and not made by Slipway: choose another APP_NAME", c.AppName, strings.Join(theirs, ", ")))
	}
	if err := judgeAccount(c.ServiceUser, f); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, judgeNeighbours(c, f.apps)...)
	return errors.Join(errs...)
}

// judgeNeighbours refuses the folder and ports of another Slipway app on
// the server, naming it and the setting to change.
func judgeNeighbours(c Config, apps map[string]*installed) []error {
	var errs []error
	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
	metrics := c.MetricsAddr()
	if metrics == "" {
		metrics = DefaultMetricsAddr
	}
	for _, name := range slices.Sorted(maps.Keys(apps)) {
		a := apps[name]
		if name == c.AppName {
			continue
		}
		if a.deployPath == c.DeployPath {
			hint := ""
			if def := DefaultsFor(c.AppName).DeployPath; def != c.DeployPath {
				hint = " (its default: " + def + ")"
			}
			errs = append(errs, fmt.Errorf("DEPLOY_PATH=%s is app %s's on this server (%s@.service runs its releases): set another DEPLOY_PATH for %s%s", c.DeployPath, name, name, c.AppName, hint))
		}
		if a.listen != "" && port(a.listen) == port(c.ListenAddr) {
			errs = append(errs, fmt.Errorf("APP_LISTEN=%s: port %s is app %s's socket on this server (%s.socket listens on %s): set another APP_LISTEN for %s", c.ListenAddr, port(c.ListenAddr), name, name, a.listen, c.AppName))
			continue // the metrics port follows the listen port: one line is enough
		}
		theirs := a.metrics
		if theirs == "" && a.deployPath != "" {
			theirs = DefaultMetricsAddr // a template without the line: the app's own default
		}
		if theirs != "" && port(theirs) == port(metrics) {
			errs = append(errs, fmt.Errorf("metrics port %s is app %s's /metrics on this server too: set another APP_LISTEN for %s (its metrics port is APP_LISTEN's + %d), or METRICS_ADDR in one app's env file", port(metrics), name, c.AppName, MetricsOffset))
		}
	}
	return errs
}

// DefaultMetricsAddr is the app's own METRICS_ADDR default
// (internal/config), which DefaultApp's units leave in place.
const DefaultMetricsAddr = "127.0.0.1:9090"

func judgeAccount(name string, f serverFacts) error {
	a := f.account
	if a == nil {
		return nil // provision creates it, marked
	}
	fix := "choose a new APP_USER (provision creates it as an unprivileged system account)"
	var priv []string
	for _, g := range f.groups {
		if slices.Contains(privilegedGroups, g) {
			priv = append(priv, g)
		}
	}
	switch {
	case a.uid == 0:
		return fmt.Errorf("APP_USER=%s: %s has uid 0 on the server (root's rights): %s", name, name, fix)
	case len(priv) > 0:
		return fmt.Errorf("APP_USER=%s: %s is in the privileged group %s on the server: %s", name, name, strings.Join(priv, ", "), fix)
	case name == f.sshUser:
		return fmt.Errorf("APP_USER=%s: %s is the SSH user deploy logs in as: %s", name, name, fix)
	case a.uid >= 1000 && loginShell(a.shell):
		return fmt.Errorf("APP_USER=%s: %s is a login account on the server (uid %d, shell %s): %s", name, name, a.uid, a.shell, fix)
	case gecosMarker(a.gecos) == UserMarker || f.legacy:
		return nil
	}
	return fmt.Errorf("APP_USER=%s: the account %s (uid %d) already exists on the server and Slipway didn't create it: %s", name, name, a.uid, fix)
}

func gecosMarker(gecos string) string {
	first, _, _ := strings.Cut(gecos, ",")
	return first
}

func loginShell(shell string) bool {
	switch shell {
	case "", "/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false":
		return false
	}
	return true
}
