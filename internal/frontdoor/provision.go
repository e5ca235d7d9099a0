package frontdoor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/helper/client"
	"github.com/slipway-dev/slipway/internal/service"
)

// Runner runs shell commands on the server: *remote.Client. service's:
// provision restarts the app's live instance on the proxy socket.
type Runner = service.Runner

// caddyDropIn is the drop-in of Debian's caddy.service (User=caddy) that
// makes /run/caddy, Caddy's own (0700), for AdminSocket at each start.
const caddyDropIn = "/etc/systemd/system/caddy.service.d/slipway.conf"

func caddyDropInBody() string {
	return fmt.Sprintf("# %s: %s (provision, internal/frontdoor): /run/caddy, 0700,\n"+
		"# holds Caddy's admin socket (%s), which only root and Caddy reach.\n"+
		"[Service]\nRuntimeDirectory=caddy\nRuntimeDirectoryMode=0700", caddyDropIn, Marker, AdminSocket)
}

// Provision installs and configures Caddy as the app's front door, then
// waits until every domain has its certificate. It is idempotent: a second
// run changes nothing, prints "ok:" lines and reloads nothing. A fault
// (DNS, ports, the CA) comes back as an error of one line saying which;
// the app's own socket is never touched.
func Provision(ctx context.Context, r Runner, c Config, out io.Writer) (changes int, err error) {
	if err := c.Validate(); err != nil {
		return 0, err
	}
	if !c.Enabled() {
		return 0, nil
	}
	st, err := readState(ctx, r, helper.CaddyStateArgs{Site: c.SitePath()})
	if err != nil {
		return 0, err
	}
	since, old := st.time, st.site
	if old == nil {
		old = []byte("-")
	}
	// The package first: the proxy socket belongs to its group.
	changes, err = step(ctx, r, "caddy-package", helper.CaddyPackageArgs{DropIn: caddyDropIn, DropInBody: caddyDropInBody()}, out)
	if err != nil {
		return changes, fmt.Errorf("https: %w", err)
	}
	// Then the socket, and an instance on it, before Caddy proxies there.
	if c.proxied() {
		n, err := proxySocket(ctx, r, c, out)
		changes += n
		if err != nil {
			return changes, err
		}
	}
	// An account broken before this provision (by Caddy alone, or an earlier
	// Slipway) is replaced once: when Caddy's log shows a refused renewal,
	// or when the CA refuses an order. Caddy then reloads even if no file
	// changes, so that it orders now what it was retrying later.
	replaced := false
	replace := func(cause error) error {
		m, err := replaceAccount(ctx, r, c, out)
		changes += m
		if err != nil {
			return fmt.Errorf("%w; and moving the account aside failed: %v", cause, err)
		}
		replaced = true
		// Caddy's refusals until now were the old account's.
		since, err = serverTime(ctx, r)
		return err
	}
	broken, err := accountBroken(ctx, r, c)
	if err != nil {
		return 0, err
	}
	if broken {
		if err := replace(errors.New("https: Caddy's ACME account does not match its key (a renewal refused in Caddy's log)")); err != nil {
			return changes, err
		}
	}
	n, certs, err := serveSite(ctx, r, c, old, since, replaced, out)
	changes += n
	if ae := (*accountError)(nil); !replaced && errors.As(err, &ae) {
		if err := replace(err); err != nil {
			return changes, err
		}
		n, certs, err = serveSite(ctx, r, c, old, since, true, out)
		changes += n
	}
	if err != nil {
		return changes, err
	}
	for _, ct := range certs {
		fmt.Fprintf(out, "ok: certificate for %s\n", ct)
	}
	if changes == 0 {
		fmt.Fprintln(out, "https: nothing changed")
	} else {
		fmt.Fprintf(out, "https: %d changes\n", changes)
	}
	return changes, nil
}

// serveSite has Caddy serve c's site and waits for its certificates: in
// two steps when Caddy would otherwise register several ACME accounts at
// once (see AccountFiles), the first domain without a certificate alone,
// then all of them. A certificate due for renewal counts as none: Caddy
// renews it on the reload, which then happens even when no file changed
// (as it does with reload set: Caddy orders now what it was retrying
// later). On a failure the site file is as it was (old, "-" for none).
func serveSite(ctx context.Context, r Runner, c Config, old []byte, since float64, reload bool, out io.Writer) (changes int, certs []Certificate, err error) {
	before, err := Certificates(ctx, r, c.Domains)
	if err != nil {
		return 0, nil, err
	}
	stored, err := accountStored(ctx, r, c)
	if err != nil {
		return 0, nil, err
	}
	now := serverClock(since)
	for _, ct := range before {
		reload = reload || ct.FromCA(c.CA) && ct.Due(now)
	}
	if first, alone := firstAlone(c, before, stored, now); alone != "" {
		fmt.Fprintf(out, "ok: %s ordered alone first: Caddy has no ACME account for this CA yet and would register one per domain\n", alone)
		n, _, err := serveStep(ctx, r, first, old, since, reload, out)
		changes += n
		if err != nil {
			return changes, nil, err
		}
		reload = false
	}
	n, certs, err := serveStep(ctx, r, c, old, since, reload, out)
	return changes + n, certs, err
}

// serveStep writes c's site (reloading Caddy on a change, or when reload
// is set) and waits for its domains' certificates; on a failure it puts the
// site file back as old.
func serveStep(ctx context.Context, r Runner, c Config, old []byte, since float64, reload bool, out io.Writer) (int, []Certificate, error) {
	n, err := step(ctx, r, "caddy-site", helper.CaddySiteArgs{Site: c.SitePath(), Content: string(c.Site()), Main: MainCaddyfile, Import: ImportLine, Socket: AdminSocket, Reload: reload}, out)
	if err != nil {
		return n, nil, fmt.Errorf("https: %s", portsHint(err.Error()))
	}
	certs, err := waitCertificates(ctx, r, c, since)
	if err == nil {
		return n, certs, nil
	}
	if n > 0 {
		restore := helper.CaddyRestoreArgs{Site: c.SitePath()}
		if string(old) != "-" {
			restore.Had, restore.Old = true, string(old)
		}
		// Even after Ctrl-C: a site without certificates must not stay.
		m, rerr := step(context.WithoutCancel(ctx), r, "caddy-restore", restore, out)
		n += m
		if rerr != nil {
			return n, nil, fmt.Errorf("%w; and putting %s back failed: %v", err, c.SitePath(), rerr)
		}
	}
	return n, nil, err
}

// proxySocket installs the proxy socket and the drop-in that hands it to
// the app's instances, then makes sure the live instance accepts on it:
// one started before (a server provisioned by an older Slipway) gets a
// successor of the same release started beside it, as env:set does, with
// both sockets; no request is dropped. Caddy proxies to the socket only
// after this.
func proxySocket(ctx context.Context, r Runner, c Config, out io.Writer) (int, error) {
	res, err := client.Call(ctx, r, "caddy-proxy", helper.CaddyProxyArgs{
		Unit: path.Join(service.UnitDir, c.ProxySocketUnit()), UnitBody: string(c.ProxySocketUnitFile()),
		Hold: path.Join(service.UnitDir, c.ProxyHolderUnit()), HoldBody: string(c.ProxyHolderUnitFile()),
		DropIn: c.DropInPath(), DropInBody: string(c.DropIn()), Socket: c.ProxySocket(),
		Instances: c.Service.InstancePattern(), CurrentLink: c.Service.CurrentLink(),
	})
	n := copyLines(res, out)
	if err != nil {
		return n, fmt.Errorf("https: %w", stepError(res, err))
	}
	var without []string
	current := ""
	for _, l := range strings.Split(string(res), "\n") {
		if u, ok := strings.CutPrefix(l, "without "); ok {
			without = append(without, u)
		}
		if rel, ok := strings.CutPrefix(l, "current "); ok {
			current = rel
		}
	}
	if len(without) == 0 {
		fmt.Fprintf(out, "ok: the live instance accepts on %s\n", c.ProxySocket())
		return n, nil
	}
	if current == "" {
		return n, fmt.Errorf("https: %s runs, but no current release to restart on %s", strings.Join(without, ", "), c.ProxySocket())
	}
	rel := current
	list, err := service.Instances(ctx, r, c.Service)
	if err != nil {
		return n, fmt.Errorf("https: %w", err)
	}
	gen := 0
	for _, in := range list {
		if in.Release == rel {
			gen = max(gen, in.Generation)
		}
	}
	inst := c.Service.InstanceName(rel, gen+1)
	fmt.Fprintf(out, "ok: %s started before %s: starting release %s again as %s beside it\n", strings.Join(without, ", "), c.ProxySocketUnit(), rel, c.Service.InstanceUnit(inst))
	h, err := service.Handover(ctx, r, c.Service, service.HandoverRequest{Release: rel, Instance: inst, ReadyTimeout: c.Service.StartTimeout})
	if err != nil {
		return n, fmt.Errorf("https: %w", err)
	}
	if h.Outcome != "ok" {
		return n, fmt.Errorf("https: release %s did not start again as %s (%s: %s); the live instance serves on, Caddy unchanged: provision again", rel, c.Service.InstanceUnit(inst), h.Outcome, h.Reason)
	}
	fmt.Fprintf(out, "changed: release %s serves as %s, on %s too (a handover, nothing dropped)\n", rel, c.Service.InstanceUnit(inst), c.ProxySocket())
	return n + 1, nil
}

// portsHint names the usual cause of a Caddy that cannot bind.
func portsHint(fail string) string {
	if strings.Contains(fail, "address already in use") {
		return "ports 80/443 are taken by another server on this host (" + fail + "): stop it or put its sites into Caddy"
	}
	return fail
}

// serverTime is the server's clock (seconds since the epoch, to the
// microsecond): Caddy's log is read from there on.
func serverTime(ctx context.Context, r Runner) (float64, error) {
	st, err := readState(ctx, r, helper.CaddyStateArgs{})
	return st.time, err
}

// serverClock is the server's time since (serverTime) as a time.Time.
func serverClock(since float64) time.Time {
	return time.Unix(0, int64(since*1e9))
}

// waitCertificates polls Caddy's storage until each domain has a current
// certificate from c.CA, and Caddy's log for the reason it can't get one.
func waitCertificates(ctx context.Context, r Runner, c Config, since float64) ([]Certificate, error) {
	if c.Wait <= 0 {
		c.Wait = DefaultWait
	}
	ctx, cancel := context.WithTimeout(ctx, c.Wait)
	defer cancel()
	now := serverClock(since)
	for {
		certs, err := Certificates(ctx, r, c.Domains)
		if err != nil {
			return nil, err
		}
		var missing []string
		for _, ct := range certs {
			if !ct.current(c.CA, now) {
				missing = append(missing, ct.Domain)
			}
		}
		if len(missing) == 0 {
			return certs, nil
		}
		domain, why, err := caddyFault(ctx, r, missing, since)
		if err != nil {
			return nil, err
		}
		if isAccountMismatch(why) {
			return nil, &accountError{Domain: domain, Why: why}
		}
		if domain != "" {
			return nil, fmt.Errorf("https: %s; provision again once fixed (until then HTTPS serves as before, and the app its socket)", Classify(domain, why))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("https: no certificate for %s after %s and no error from the CA yet: see journalctl -u caddy", strings.Join(missing, ", "), c.Wait)
		case <-time.After(time.Second):
		}
	}
}

// step runs a front door step of slipway-helper, copies its "ok:" and
// "changed:" lines to out and counts the changed ones; its failure line is
// the error.
func step(ctx context.Context, r Runner, name string, args any, out io.Writer) (changes int, err error) {
	res, err := client.Call(ctx, r, name, args)
	changes = copyLines(res, out)
	if err != nil {
		return changes, stepError(res, err)
	}
	return changes, nil
}

// copyLines copies a step's "ok:" and "changed:" lines to out and counts
// the changed ones.
func copyLines(res []byte, out io.Writer) (changes int) {
	sc := bufio.NewScanner(bytes.NewReader(res))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "changed: "):
			changes++
		case !strings.HasPrefix(line, "ok: "):
			continue
		}
		fmt.Fprintln(out, line)
	}
	return changes
}

// stepError is a failed step's own words (its "result failed" line), else
// err.
func stepError(res []byte, err error) error {
	var fail string
	for _, l := range strings.Split(string(res), "\n") {
		if f, ok := strings.CutPrefix(l, "result failed "); ok {
			fail = f
		}
	}
	if fail == "" {
		return err
	}
	return errors.New(fail)
}
