package frontdoor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/remote"
)

// Runner runs shell commands as root on the server: *remote.Client, or the
// sandbox's runner in tests (the same interface as service.Runner's).
type Runner interface {
	RunRoot(ctx context.Context, cmd string, stdin io.Reader) ([]byte, error)
}

// installScript installs Caddy from Debian's packages, adds the import
// line, installs the site file (on stdin), and reloads
// Caddy only when one of its files changed. A reload Caddy refuses puts the
// files back as they were: the running configuration was never replaced.
// Each step prints "ok: ..." or "changed: ..."; a failure prints "fail: ..."
// with Caddy's own words, and exits 1.
const installScript = `set -eu
site=$1 main=$2 imp=$3 force=$4
log=/var/log/slipway-caddy-install.log
if [ "$(dpkg-query -W -f='${db:Status-Status}' caddy 2>/dev/null || true)" = installed ]; then
  echo "ok: caddy $(dpkg-query -W -f='${Version}' caddy) installed"
else
  export DEBIAN_FRONTEND=noninteractive
  # Stale package lists (a fresh VPS image) 404: update only then.
  if ! apt-get install -y -q caddy >"$log" 2>&1; then
    apt-get update -q >>"$log" 2>&1 || true
    if ! apt-get install -y -q caddy >>"$log" 2>&1; then
      echo "fail: apt-get install caddy: $(tail -n 1 "$log") (full log: $log)"; exit 1
    fi
  fi
  echo "changed: installed caddy $(dpkg-query -W -f='${Version}' caddy) from the Debian packages"
fi
[ -f "$main" ] || { echo "fail: $main is missing: reinstall caddy (apt-get install --reinstall -o Dpkg::Options::=--force-confmiss caddy)"; exit 1; }
install -d -m 755 "$(dirname "$site")"
bak=$(mktemp -d)
trap 'rm -rf "$bak"' EXIT
cp -p "$main" "$bak/main"
touched=0
if grep -qxF "$imp" "$main"; then
  echo "ok: $main imports $(dirname "$site")"
else
  printf '\n# Added by Slipway (provision): one site file per app.\n%s\n' "$imp" >> "$main"
  echo "changed: $main imports $(dirname "$site") (one line added, the rest untouched)"
  touched=1
fi
cat > "$site.slipway-new"
if [ -f "$site" ] && cmp -s "$site.slipway-new" "$site"; then
  rm -f "$site.slipway-new"
  echo "ok: $site up to date"
else
  [ -f "$site" ] && cp -p "$site" "$bak/site"
  chmod 644 "$site.slipway-new"; mv -f "$site.slipway-new" "$site"
  echo "changed: $site written"
  touched=1
fi
restore() {
  cp -p "$bak/main" "$main"
  if [ -f "$bak/site" ]; then cp -p "$bak/site" "$site"; else rm -f "$site"; fi
}
if systemctl is-enabled --quiet caddy; then echo "ok: caddy enabled"; else systemctl enable --quiet caddy; echo "changed: caddy enabled"; fi
if ! systemctl is-active --quiet caddy; then
  if ! systemctl start caddy >/dev/null 2>&1; then
    restore
    echo "fail: caddy does not start: $(journalctl -u caddy -n 30 --no-pager -o cat | grep -iE 'error|bind|listen' | tail -n 1)"; exit 1
  fi
  echo "changed: caddy started"
elif [ "$touched" = 1 ] || [ "$force" = reload ]; then
  # caddy reload: graceful, the old configuration serves until the new one
  # is running. A refused configuration leaves the old one running.
  if ! out=$(systemctl reload caddy 2>&1); then
    restore
    echo "fail: caddy refused the configuration, files put back: $(journalctl -u caddy -n 30 --no-pager -o cat | grep -iE 'error' | tail -n 1)"; exit 1
  fi
  echo "changed: caddy reloaded (graceful)"
else
  echo "ok: caddy active, nothing to reload"
fi
`

// dropInScript installs the drop-in ($1, content $2) of the instances'
// template, once Caddy serves the domains.
const dropInScript = `set -eu
dropin=$1 dropin_body=$2
install -d -m 755 "$(dirname "$dropin")"
if [ -f "$dropin" ] && [ "$(cat "$dropin")" = "$(printf '%s' "$dropin_body")" ]; then
  echo "ok: $dropin (TRUSTED_PROXIES)"
else
  printf '%s\n' "$dropin_body" > "$dropin.slipway-new"; chmod 644 "$dropin.slipway-new"; mv -f "$dropin.slipway-new" "$dropin"
  systemctl daemon-reload
  echo "changed: $dropin: the app believes X-Forwarded-* from loopback (from the next deploy)"
fi
`

// restoreScript puts the site file back as it was before provision ($2:
// "-" when there was none, the old content on stdin otherwise) and reloads
// Caddy: domains that got no certificate leave the previous front door
// serving.
const restoreScript = `set -eu
site=$1 had=$2
if [ "$had" = - ]; then rm -f "$site"; else cat > "$site.slipway-new"; mv -f "$site.slipway-new" "$site"; fi
systemctl reload caddy
echo "changed: $site put back as it was, caddy reloaded"
`

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
	since, err := serverTime(ctx, r)
	if err != nil {
		return 0, err
	}
	old, err := r.RunRoot(ctx, "cat "+remote.Quote(c.SitePath())+" 2>/dev/null || printf %s -", nil)
	if err != nil {
		return 0, fmt.Errorf("https: read %s: %w: %s", c.SitePath(), err, bytes.TrimSpace(old))
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
	n, err = script(ctx, r, dropInScript, []string{c.DropInPath(), strings.TrimSuffix(string(c.DropIn()), "\n")}, nil, out)
	changes += n
	if err != nil {
		return changes, fmt.Errorf("https: %w", err)
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
	force := "-"
	if reload {
		force = "reload"
	}
	n, err := script(ctx, r, installScript, []string{c.SitePath(), MainCaddyfile, ImportLine, force}, c.Site(), out)
	if err != nil {
		return n, nil, fmt.Errorf("https: %s", portsHint(err.Error()))
	}
	certs, err := waitCertificates(ctx, r, c, since)
	if err == nil {
		return n, certs, nil
	}
	if n > 0 {
		had, in := "-", []byte(nil)
		if string(old) != "-" {
			had, in = "yes", old
		}
		// Even after Ctrl-C: a site without certificates must not stay.
		m, rerr := script(context.WithoutCancel(ctx), r, restoreScript, []string{c.SitePath(), had}, in, out)
		n += m
		if rerr != nil {
			return n, nil, fmt.Errorf("%w; and putting %s back failed: %v", err, c.SitePath(), rerr)
		}
	}
	return n, nil, err
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
	out, err := r.RunRoot(ctx, "date +%s.%6N", nil)
	if err != nil {
		return 0, fmt.Errorf("https: server time: %w: %s", err, bytes.TrimSpace(out))
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		return 0, fmt.Errorf("https: server time: %q", out)
	}
	return n, nil
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

// script runs a shell script as root with its arguments and stdin, copies
// its "ok:"/"changed:" lines to out and counts the changed ones; its
// "fail: ..." line is the error.
func script(ctx context.Context, r Runner, sh string, args []string, stdin []byte, out io.Writer) (changes int, err error) {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = remote.Quote(a)
	}
	var in io.Reader
	if stdin != nil {
		in = bytes.NewReader(stdin)
	}
	res, runErr := r.RunRoot(ctx, "sh -c "+remote.Quote(sh)+" https "+strings.Join(q, " "), in)
	var fail string
	sc := bufio.NewScanner(bytes.NewReader(res))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "changed: "):
			changes++
		case strings.HasPrefix(line, "fail: "):
			fail = strings.TrimPrefix(line, "fail: ")
			continue
		}
		fmt.Fprintln(out, line)
	}
	if runErr == nil {
		return changes, nil
	}
	if fail == "" {
		fail = fmt.Sprintf("%v: %s", runErr, bytes.TrimSpace(res))
	}
	return changes, errors.New(fail)
}
