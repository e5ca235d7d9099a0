package service

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/helper/client"
)

// Provision does the one-time server set-up, as root through r: the service
// user, the deploy folders, the env file template (only if none exists), the
// app's database when the env file names none (ensureDatabase: PostgreSQL,
// role, database, the URL and PASSWORD_PEPPER in the env file), the units,
// the socket enabled and listening, then the server basics (Basics: a
// firewall, unattended upgrades, sshd's password login). It is idempotent: a second
// run changes nothing and says so. Progress goes to out, one line per step.
func Provision(ctx context.Context, r Runner, c Config, out io.Writer) (changed bool, err error) {
	return ProvisionWith(ctx, r, c, ProvisionOptions{}, out)
}

// ProvisionOptions are provision's choices that shape no unit.
type ProvisionOptions struct {
	// ExternalDatabase: the app's database is elsewhere; provision installs
	// no PostgreSQL even though the env file doesn't set the URL yet (it
	// asks for env:set instead). PROVISION_DATABASE=external.
	ExternalDatabase bool
	// NotifyURL (DEPLOY_NOTIFY_URL), when set, is copied into the server's
	// settings for its own alerts (SyncSettings).
	NotifyURL string
	// Basics: the firewall, unattended upgrades and sshd's password
	// login, set up after the app's part (basics.go).
	Basics Basics
}

// ProvisionWith is Provision with options.
func ProvisionWith(ctx context.Context, r Runner, c Config, po ProvisionOptions, out io.Writer) (changed bool, err error) {
	if err := c.Validate(); err != nil {
		return false, err
	}
	env, err := envTemplate(c)
	if err != nil {
		return false, err
	}
	units, err := Units(c)
	if err != nil {
		return false, err
	}
	if err := checkServer(ctx, r, c, slices.Sorted(maps.Keys(units))); err != nil {
		return false, err
	}
	// The releases belong to the SSH user, who uploads them: the helper
	// knows who logged in.
	n, err := runStep(ctx, r, "provision-prepare", helper.PrepareArgs{
		User: c.ServiceUser, DeployPath: c.DeployPath, EnvDir: c.EnvDir(), EnvFile: c.EnvFile(), EnvTemplate: string(env),
	}, out)
	if err != nil {
		return n > 0, err
	}
	total := n
	n, err = ensureDatabase(ctx, r, c, po.ExternalDatabase, out)
	total += n
	if err != nil {
		return total > 0, err
	}
	n, err = SyncSettings(ctx, r, c, po.NotifyURL, out)
	total += n
	if err != nil {
		return total > 0, err
	}
	unitsChanged, err := Ensure(ctx, r, c)
	if err != nil {
		return total > 0, err
	}
	if unitsChanged {
		total++
		fmt.Fprintf(out, "changed: units %s, %s, %s installed in %s, systemd reloaded\n", c.SocketUnit(), c.CurrentUnit(), c.TemplateUnit(), UnitDir)
	} else {
		fmt.Fprintf(out, "ok: units %s, %s, %s up to date\n", c.SocketUnit(), c.CurrentUnit(), c.TemplateUnit())
	}
	n, err = moveFromLegacy(ctx, r, c, out)
	total += n
	if err != nil {
		return total > 0, err
	}
	n, err = runStep(ctx, r, "provision-enable", helper.EnableArgs{Socket: c.SocketUnit(), Current: c.CurrentUnit()}, out)
	total += n
	if err != nil {
		return total > 0, err
	}
	n, err = provisionBasics(ctx, r, c, po.Basics, out)
	total += n
	if err != nil {
		return total > 0, err
	}
	if total == 0 {
		fmt.Fprintln(out, "provision: nothing changed")
	} else {
		fmt.Fprintf(out, "provision: %d changes\n", total)
	}
	return total > 0, nil
}

// moveFromLegacy moves a server off the layout before instances (one
// app.service restarted in place): the current release starts as its own
// instance beside app.service, on the same socket, and app.service stops
// once the instance is ready: a handover, not a restart. Without a release
// there is nothing to hand over and app.service just goes.
func moveFromLegacy(ctx context.Context, r Runner, c Config, out io.Writer) (int, error) {
	res, err := client.Call(ctx, r, "provision-legacy", helper.LegacyArgs{Unit: c.ServiceUnit(), CurrentLink: c.CurrentLink()})
	if err != nil {
		return 0, fmt.Errorf("provision: look for %s: %w: %s", c.ServiceUnit(), err, bytes.TrimSpace(res))
	}
	var rel string
	switch result(res) {
	case "ok none":
		return 0, nil
	case "ok retired":
		return copyLines(res, out), nil
	case "ok legacy":
		for _, l := range strings.Split(string(res), "\n") {
			if r, ok := strings.CutPrefix(l, "legacy "); ok {
				rel = strings.TrimSpace(r)
			}
		}
	default:
		return 0, fmt.Errorf("provision: look for %s: unexpected answer %q", c.ServiceUnit(), result(res))
	}
	h, err := Handover(ctx, r, c, HandoverRequest{Release: rel, ReadyTimeout: c.StartTimeout})
	for _, s := range h.Steps {
		fmt.Fprintf(out, "  %s\n", s)
	}
	if err != nil {
		return 0, err
	}
	if h.Outcome != "ok" {
		return 0, fmt.Errorf("provision: release %s did not start as %s, %s still runs it: %s\nlast log lines:\n  %s",
			rel, c.InstanceUnit(rel), c.ServiceUnit(), h.Outcome, strings.Join(h.Logs, "\n  "))
	}
	fmt.Fprintf(out, "changed: moved release %s from %s to %s, no restart\n", rel, c.ServiceUnit(), c.InstanceUnit(rel))
	return 1, nil
}

// runStep runs a provision step, copies its lines to out (copyLines) and
// counts the "changed:" ones.
func runStep(ctx context.Context, r Runner, step string, args any, out io.Writer) (changes int, err error) {
	res, err := client.Call(ctx, r, step, args)
	if err != nil {
		return countChanged(res), fmt.Errorf("%s: %w: %s", step, err, bytes.TrimSpace(res))
	}
	return copyLines(res, out), nil
}

// SyncSettings copies the deploying user's DEPLOY_NOTIFY_URL (notifyURL,
// the whole secret URL) into the server's settings file through the
// helper's stdin, where the server's alerts (helper.OnFailure) read it. An
// empty notifyURL changes nothing and costs no round trip. It prints one
// ok:/changed: line naming only the URL's scheme and host.
func SyncSettings(ctx context.Context, r Runner, c Config, notifyURL string, out io.Writer) (changes int, err error) {
	if notifyURL == "" {
		return 0, nil
	}
	return runStep(ctx, r, "settings-sync", helper.SettingsArgs{App: c.AppName, NotifyURL: notifyURL}, out)
}

// copyLines copies a step's "ok:", "changed:", "skipped:" and "warning:"
// lines to out and counts the "changed:" ones.
func copyLines(res []byte, out io.Writer) int {
	sc := bufio.NewScanner(bytes.NewReader(res))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "ok: ") || strings.HasPrefix(line, "changed: ") || strings.HasPrefix(line, "skipped: ") || strings.HasPrefix(line, "warning: ") {
			fmt.Fprintln(out, line)
		}
	}
	return countChanged(res)
}

func countChanged(res []byte) int {
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(res))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "changed: ") {
			n++
		}
	}
	return n
}
