package frontdoor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/service"
)

// Runner runs shell commands on the server: *remote.Client. service's:
// provision restarts the app's live instance on the proxy socket.
type Runner = service.Runner

// packageScript installs Caddy from Debian's packages, and the drop-in
// ($1, content $2) of caddy.service that gives Caddy /run/caddy (0700) for
// its admin socket, which it creates now if Caddy runs already.
const packageScript = `set -eu
dropin=$1 dropin_body=$2
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
install -d -m 755 "$(dirname "$dropin")"
if [ -f "$dropin" ] && [ "$(cat "$dropin")" = "$(printf '%s' "$dropin_body")" ]; then
  echo "ok: $dropin (/run/caddy for the admin socket)"
else
  printf '%s\n' "$dropin_body" > "$dropin.slipway-new"; chmod 644 "$dropin.slipway-new"; mv -f "$dropin.slipway-new" "$dropin"
  systemctl daemon-reload
  echo "changed: $dropin (/run/caddy for the admin socket)"
fi
# RuntimeDirectory= makes it at each start; a running Caddy needs it now.
[ -d /run/caddy ] || install -d -o caddy -g caddy -m 700 /run/caddy
`

// globalAWK reads the main Caddyfile's global options block: "none" when
// there is none, its admin line when it has one, "block" otherwise.
const globalAWK = `BEGIN { state = 0; depth = 0 }
state == 0 {
  if ($0 ~ /^[[:space:]]*(#.*)?$/) next
  if ($0 ~ /^[[:space:]]*\{[[:space:]]*$/) { state = 1; depth = 1; next }
  print "none"; done = 1; exit
}
{
  line = $0; sub(/#.*/, "", line)
  if (depth == 1 && line ~ /^[[:space:]]*admin([[:space:]]|$)/) {
    sub(/^[[:space:]]+/, "", line); sub(/[[:space:]]+$/, "", line); print line; done = 1; exit
  }
  depth += gsub(/\{/, "{", line) - gsub(/\}/, "}", line)
  if (depth <= 0) { print "block"; done = 1; exit }
}
END { if (!done) print "none" }`

// installScript puts Caddy's admin API on its unix socket (global options
// of the main Caddyfile), adds the import line, installs the site file (on
// stdin), and reloads Caddy only when one of its files changed. A reload
// Caddy refuses puts the files back as they were: the running
// configuration was never replaced. Each step prints "ok: ..." or
// "changed: ..."; a failure prints "fail: ..." with Caddy's own words, and
// exits 1.
const installScript = `set -eu
site=$1 main=$2 imp=$3 force=$4 sock=$5 awkg=$6
[ -f "$main" ] || { echo "fail: $main is missing: reinstall caddy (apt-get install --reinstall -o Dpkg::Options::=--force-confmiss caddy)"; exit 1; }
install -d -m 755 "$(dirname "$site")"
bak=$(mktemp -d)
trap 'rm -rf "$bak"' EXIT
cp -p "$main" "$bak/main"
touched=0
adm="admin unix/$sock"
g=$(awk "$awkg" "$main")
case $g in
"$adm") echo "ok: $main puts Caddy's admin API on $sock" ;;
none|block)
  # cat >, not mv: the file keeps its owner and mode.
  if [ "$g" = none ]; then
    printf '# Added by Slipway (provision): Caddy'"'"'s admin API on a socket only root and\n# Caddy reach (on localhost:2019 any local user could replace this config).\n{\n\t%s\n}\n\n' "$adm" > "$bak/new"
    cat "$main" >> "$bak/new"
  else
    awk -v a="$adm" '!d && /^[[:space:]]*\{[[:space:]]*$/ { print; print "\t# Slipway (provision): the admin API on a socket only root and Caddy reach."; print "\t" a; d = 1; next } { print }' "$main" > "$bak/new"
  fi
  cat "$bak/new" > "$main"
  echo "changed: $main puts Caddy's admin API on $sock (global options; the rest untouched)"
  touched=1 ;;
*) echo "fail: the global options of $main say '$g': Slipway needs '$adm' there (on localhost:2019 any local user can replace Caddy's configuration): change that line and provision again"; exit 1 ;;
esac
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
  cat "$bak/main" > "$main"
  if [ -f "$bak/site" ]; then cp -p "$bak/site" "$site"; else rm -f "$site"; fi
}
# caddy_says is Caddy's own last journal line matching $1, not systemd's
# lines about the unit ("Failed to kill control group ...: Input/output
# error" came last now and then in the sandbox).
caddy_says() {
  journalctl -u caddy -n 30 --no-pager -o short | grep -v ' systemd\[1\]: ' | sed 's/^[^]]*\]: //' | grep -iE "$1" | tail -n 1
}
if systemctl is-enabled --quiet caddy; then echo "ok: caddy enabled"; else systemctl enable --quiet caddy; echo "changed: caddy enabled"; fi
if ! systemctl is-active --quiet caddy; then
  if ! systemctl start caddy >/dev/null 2>&1; then
    restore
    echo "fail: caddy does not start: $(caddy_says 'error|bind|listen')"; exit 1
  fi
  echo "changed: caddy started"
elif [ "$touched" = 1 ] || [ "$force" = reload ]; then
  # caddy reload: graceful, the old configuration serves until the new one
  # is running. A refused configuration leaves the old one running. The
  # package's reload sends the configuration to the admin address the new
  # one names: a Caddy still listening on localhost:2019 (before Slipway
  # moved it) gets it there, once.
  if [ -S "$sock" ]; then
    reload() { systemctl reload caddy; }
  else
    reload() { runuser -u caddy -- caddy reload --config "$main" --adapter caddyfile --address localhost:2019 --force; }
  fi
  if ! out=$(reload 2>&1); then
    restore
    echo "fail: caddy refused the configuration, files put back: $(caddy_says 'error')"; exit 1
  fi
  echo "changed: caddy reloaded (graceful)"
else
  echo "ok: caddy active, nothing to reload"
fi
`

// caddyDropIn is the drop-in of Debian's caddy.service (User=caddy) that
// makes /run/caddy, Caddy's own (0700), for AdminSocket at each start.
const caddyDropIn = "/etc/systemd/system/caddy.service.d/slipway.conf"

func caddyDropInBody() string {
	return fmt.Sprintf("# %s: %s (provision, internal/frontdoor): /run/caddy, 0700,\n"+
		"# holds Caddy's admin socket (%s), which only root and Caddy reach.\n"+
		"[Service]\nRuntimeDirectory=caddy\nRuntimeDirectoryMode=0700", caddyDropIn, Marker, AdminSocket)
}

// proxyScript installs the proxy socket's unit ($1, content $2), its
// holder ($3, content $4) and the instances' drop-in ($5, content $6), and
// has the socket listen ($7), then the holder active.
const proxyScript = `set -eu
unit=$1 unit_body=$2 hold=$3 hold_body=$4 dropin=$5 dropin_body=$6 sock=$7
name=${unit##*/} holder=${hold##*/} new=0
put() {
  install -d -m 755 "$(dirname "$1")"
  if [ -f "$1" ] && [ "$(cat "$1")" = "$(printf '%s' "$2")" ]; then echo "ok: $1 ($3)"; return; fi
  printf '%s\n' "$2" > "$1.slipway-new"; chmod 644 "$1.slipway-new"; mv -f "$1.slipway-new" "$1"
  echo "changed: $1 ($3)"
  new=1
}
put "$unit" "$unit_body" "Caddy's way in: $sock, root:caddy 0660"
unitnew=$new
put "$hold" "$hold_body" "what $name activates: nothing"
put "$dropin" "$dropin_body" "the app's instances accept on $name"
[ "$new" = 0 ] || systemctl daemon-reload
for u in "$name" "$holder"; do
  if systemctl is-enabled --quiet "$u"; then echo "ok: $u enabled"; else systemctl enable --quiet "$u"; echo "changed: $u enabled"; fi
done
if ! systemctl is-active --quiet "$name"; then
  # The holder first inactive: systemd refuses a socket whose service runs.
  systemctl stop "$holder"
  systemctl start "$name"; echo "changed: $name listening on $sock"
elif [ "$unitnew" = 1 ]; then
  systemctl stop "$holder"
  systemctl restart "$name"; echo "changed: $name restarted on $sock"
else
  echo "ok: $name listening on $sock"
fi
if systemctl is-active --quiet "$holder"; then echo "ok: $holder active"; else systemctl start "$holder"; echo "changed: $holder active"; fi
`

// heldScript names each running instance ($2: the instances' pattern)
// that does not hold the proxy socket ($1) systemd listens on: "without
// <unit>". An instance gets its sockets when it starts: one started before
// the socket existed (a server provisioned by an older Slipway) does not
// accept on it.
const heldScript = `set -eu
sock=$1 pattern=$2 ino=
for i in $(awk -v p="$sock" '$8 == p { print $7 }' /proc/net/unix); do
  if ls -l /proc/1/fd 2>/dev/null | grep -qF "socket:[$i]"; then ino=$i; fi
done
[ -n "$ino" ] || { echo "fail: systemd does not listen on $sock: systemctl status ${sock##*/}"; exit 1; }
for u in $(systemctl list-units --plain --no-legend --state=active "$pattern" | awk '{print $1}'); do
  pid=$(systemctl show -p MainPID --value "$u")
  if [ "$pid" -gt 0 ] && ! ls -l "/proc/$pid/fd" 2>/dev/null | grep -qF "socket:[$ino]"; then echo "without $u"; fi
done
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
	// The package first: the proxy socket belongs to its group.
	changes, err = script(ctx, r, packageScript, []string{caddyDropIn, caddyDropInBody()}, nil, out)
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
	force := "-"
	if reload {
		force = "reload"
	}
	n, err := script(ctx, r, installScript, []string{c.SitePath(), MainCaddyfile, ImportLine, force, AdminSocket, globalAWK}, c.Site(), out)
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

// proxySocket installs the proxy socket and the drop-in that hands it to
// the app's instances, then makes sure the live instance accepts on it:
// one started before (a server provisioned by an older Slipway) gets a
// successor of the same release started beside it, as env:set does, with
// both sockets; no request is dropped. Caddy proxies to the socket only
// after this.
func proxySocket(ctx context.Context, r Runner, c Config, out io.Writer) (int, error) {
	unit := path.Join(service.UnitDir, c.ProxySocketUnit())
	n, err := script(ctx, r, proxyScript, []string{unit, strings.TrimSuffix(string(c.ProxySocketUnitFile()), "\n"),
		path.Join(service.UnitDir, c.ProxyHolderUnit()), strings.TrimSuffix(string(c.ProxyHolderUnitFile()), "\n"),
		c.DropInPath(), strings.TrimSuffix(string(c.DropIn()), "\n"), c.ProxySocket()}, nil, out)
	if err != nil {
		return n, fmt.Errorf("https: %w", err)
	}
	res, err := r.RunRoot(ctx, "sh -c "+remote.Quote(heldScript)+" held "+remote.Quote(c.ProxySocket())+" "+remote.Quote(c.Service.InstancePattern()), nil)
	if err != nil {
		return n, fmt.Errorf("https: %s: %w", strings.TrimPrefix(strings.TrimSpace(string(res)), "fail: "), err)
	}
	var without []string
	for _, l := range strings.Split(string(res), "\n") {
		if u, ok := strings.CutPrefix(l, "without "); ok {
			without = append(without, u)
		}
	}
	if len(without) == 0 {
		fmt.Fprintf(out, "ok: the live instance accepts on %s\n", c.ProxySocket())
		return n, nil
	}
	link, err := r.RunRoot(ctx, "readlink "+remote.Quote(c.Service.CurrentLink()), nil)
	if err != nil {
		return n, fmt.Errorf("https: %s runs, but no current release to restart on %s: %w: %s", strings.Join(without, ", "), c.ProxySocket(), err, bytes.TrimSpace(link))
	}
	rel := path.Base(strings.TrimSpace(string(link)))
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
