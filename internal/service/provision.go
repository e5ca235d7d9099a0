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
)

// prepareScript creates the service user and the folders, and the env file
// from its template (on stdin) only when there is none: an
// existing one holds secrets and is never rewritten, only brought back to
// root:root 0600. Each step prints "ok: ..." or "changed: ...".
const prepareScript = `set -eu
user=$1 deploy=$2 owner=$3 group=$4 envdir=$5 envfile=$6
# The GECOS field marks the account as Slipway's (service.UserMarker); one
# made by an older Slipway gets the mark.
if ! id -u "$user" >/dev/null 2>&1; then
  useradd --system --user-group --comment ` + UserMarker + ` --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin "$user"
  echo "changed: created system user $user"
elif [ "$(getent passwd "$user" | cut -d: -f5 | cut -d, -f1)" != ` + UserMarker + ` ]; then
  usermod --comment ` + UserMarker + ` "$user"
  echo "changed: marked user $user as Slipway's (GECOS ` + UserMarker + `)"
else
  echo "ok: user $user exists"
fi
# dir PATH OWNER GROUP MODE: create it, or fix owner and mode.
dir() {
  if [ -d "$1" ] && [ "$(stat -c '%U:%G %a' "$1")" = "$2:$3 $4" ]; then
    echo "ok: $1 ($2:$3 $4)"
  else
    install -d -o "$2" -g "$3" -m "$4" "$1"
    echo "changed: $1 ($2:$3 $4)"
  fi
}
# The deploy path may be the SSH user's home: create it, never change it.
if [ -d "$deploy" ]; then
  echo "ok: $deploy exists"
else
  install -d -o "$owner" -g "$group" -m 755 "$deploy"
  echo "changed: $deploy ($owner:$group 755)"
fi
# Deploy uploads as the SSH user; the service user reads through a bind mount.
dir "$deploy/releases" "$owner" "$group" 755
dir "$envdir" root root 700
if [ ! -e "$envfile" ]; then
  (umask 077; cat > "$envfile")
  echo "changed: $envfile created from the template (root:root 600)"
elif [ "$(stat -c '%U:%G %a' "$envfile")" != "root:root 600" ]; then
  chown root:root "$envfile"; chmod 600 "$envfile"
  echo "changed: $envfile brought back to root:root 600 (content untouched)"
else
  echo "ok: $envfile (root:root 600, content untouched)"
fi
`

// enableScript enables the socket (listening from now on and at boot) and
// its current-release service (active, and starting the current release at
// boot). No instance is enabled: which release runs is current's business.
const enableScript = `set -eu
sock=$1 cur=$2
if systemctl is-enabled --quiet "$sock"; then echo "ok: $sock enabled"; else systemctl enable --quiet "$sock"; echo "changed: $sock enabled"; fi
if systemctl is-active --quiet "$sock"; then echo "ok: $sock listening"; else systemctl start "$sock"; echo "changed: $sock started"; fi
if systemctl is-enabled --quiet "$cur"; then echo "ok: $cur enabled"; else systemctl enable --quiet "$cur"; echo "changed: $cur enabled (starts the current release at boot)"; fi
if systemctl is-active --quiet "$cur"; then echo "ok: $cur active"; else systemctl start "$cur"; echo "changed: $cur started"; fi
`

// legacyScript reports the old layout: "legacy <current release or ->"
// when its single service is installed.
const legacyScript = `unit=$1 link=$2
[ -f "$unit" ] || exit 0
r=$(readlink "$link" 2>/dev/null) || r=-
echo "legacy ${r##*/}"`

// retireScript removes the old layout's single service on a server that
// never had a release: nothing runs, nothing to hand over.
const retireScript = `set -eu
svc=$1
systemctl disable --quiet "$svc" 2>/dev/null || true
systemctl stop "$svc"
rm -f "/etc/systemd/system/$svc"
systemctl daemon-reload
echo "changed: retired $svc (the layout before instances)"
`

// Provision does the one-time server set-up, as root through r: the service
// user, the deploy folders, the env file template (only if none exists), the
// app's database when the env file names none (ensureDatabase: PostgreSQL,
// role, database, the URL and PASSWORD_PEPPER in the env file), the units,
// and the socket enabled and listening. It is idempotent: a second
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
}

// ProvisionWith is Provision with options.
func ProvisionWith(ctx context.Context, r Runner, c Config, po ProvisionOptions, out io.Writer) (changed bool, err error) {
	if err := c.Validate(); err != nil {
		return false, err
	}
	// The releases belong to the SSH user, who uploads them.
	id, err := r.Run(ctx, "id -un; id -gn", nil)
	if err != nil {
		return false, fmt.Errorf("who am i: %w: %s", err, bytes.TrimSpace(id))
	}
	who := strings.Fields(string(id))
	if len(who) != 2 {
		return false, fmt.Errorf("who am i: unexpected output %q", id)
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
	args := quoteAll(c.ServiceUser, c.DeployPath, who[0], who[1], c.EnvDir(), c.EnvFile())
	n, err := runScript(ctx, r, "prepare", prepareScript, args, env, out)
	if err != nil {
		return n > 0, err
	}
	total := n
	n, err = ensureDatabase(ctx, r, c, po.ExternalDatabase, out)
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
	n, err = runScript(ctx, r, "enable", enableScript, quoteAll(c.SocketUnit(), c.CurrentUnit()), nil, out)
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
	res, err := r.RunRoot(ctx, "sh -c "+quote(legacyScript)+" legacy "+quoteAll(UnitDir+"/"+c.ServiceUnit(), c.CurrentLink()), nil)
	if err != nil {
		return 0, fmt.Errorf("provision: look for %s: %w: %s", c.ServiceUnit(), err, bytes.TrimSpace(res))
	}
	rel, ok := strings.CutPrefix(strings.TrimSpace(string(res)), "legacy ")
	if !ok {
		return 0, nil
	}
	if rel == "-" || rel == "" {
		return runScript(ctx, r, "retire", retireScript, quote(c.ServiceUnit()), nil, out)
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

// runScript runs script as root with sh -c and its arguments, copies its
// lines to out and counts the "changed:" ones.
func runScript(ctx context.Context, r Runner, name, script, args string, stdin []byte, out io.Writer) (changes int, err error) {
	cmd := "sh -c " + quote(script) + " " + name + " " + args
	var in io.Reader
	if stdin != nil {
		in = bytes.NewReader(stdin)
	}
	res, err := r.RunRoot(ctx, cmd, in)
	sc := bufio.NewScanner(bytes.NewReader(res))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "changed: ") {
			changes++
		}
		if err == nil {
			fmt.Fprintln(out, line)
		}
	}
	if err != nil {
		return changes, fmt.Errorf("provision %s: %w: %s", name, err, bytes.TrimSpace(res))
	}
	return changes, nil
}
