package service

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// handoverScript switches the live release to $3 on the server, as root, in
// a transient unit of its own: nothing in it depends on the deploy's SSH
// session, so a client killed at any point leaves a server that finishes
// (or undoes) the switch by itself within the ready timeout.
//
//  1. start <app>@<new>.service beside the live instance; both accept on the
//     socket, but the new one takes no connection before it said READY=1
//     (migrations applied, database answering, its own readiness true)
//  2. not ready within $5 seconds, exited, or STATUS= without commit $4:
//     stop it and leave everything else as it was (the old one never
//     stopped); its last journal lines go out as "log ..." lines
//  3. ready: current -> the new release, previous -> the release that served
//     until now (never one that failed, never current), each a rename
//  4. stop the old instance (it drains), retire the single app.service of
//     the old layout if there is one, stop any other instance: one is live
//  5. append the deploy.log line ($6 + result + duration since $7 ns)
//
// $8 names the new instance when it is not the release id itself: a later
// generation of the live release (<release>.g<n>, env:set). $9, when set,
// is a new env file beside $10 (the service's): it replaces $10 (a rename)
// just before the start and goes back on any failure, so a server left
// alone after a failed change restarts with the settings it had.
//
// Lines: "step ..." as it goes, "log ..." and a last "result <outcome> ...".
const handoverScript = `set -u
rm -f "$0"
app=$1 dp=$2 new=$3 commit=$4 tmo=$5 logp=$6 t0=$7 inst=$8 envnew=$9 envf=${10}
# "-" stands for empty: systemd-run's argv keeps no empty word reliably.
[ "$commit" = - ] && commit=
[ "$logp" = - ] && logp=
[ "$inst" = - ] && inst=$new
[ "$envnew" = - ] && envnew=
unit="$app@$inst.service" legacy="/etc/systemd/system/$app.service" swapped=
say() { printf '%s\n' "$*"; }
h0=$(date +%s%N) started=$(date +%s)
# A step, with the seconds since the handover began.
step() { d=$(( ($(date +%s%N) - h0) / 100000000 )); say "step [$((d / 10)).$((d % 10))s] $*"; }
finish() {
  if [ -n "$logp" ]; then
    d=$(( ($(date +%s%N) - t0) / 100000000 ))
    printf '%s result=%s duration=%d.%ds%s\n' "$logp" "$1" $((d / 10)) $((d % 10)) "${2:+ $2}" >> deploy.log
    chown --reference=releases deploy.log 2>/dev/null
  fi
  say "result $1${2:+ $2}"
}
cd "$dp" || { say "result failed no $dp"; exit 1; }
[ -x "releases/$new/app" ] || { finish failed "reason=no_release_$new"; exit 1; }
rel() { r=$(readlink "$1" 2>/dev/null) || r=; printf '%s' "${r##*/}"; }
prop() { systemctl show -p "$1" --value "$2"; }
cur=$(rel current) prev=$(rel previous)
# What serves now: the current release's instance, or the old layout's
# single service (which runs current/app).
# The live instance of release $1: its own or a later generation's.
live_of() {
  for u in "$app@$1.service" $(systemctl list-units --plain --no-legend --all "$app@$1.g*.service" | awk '{print $1}'); do
    if [ "$u" != "$unit" ] && [ "$(prop ActiveState "$u")" = active ]; then printf '%s' "$u"; return 0; fi
  done
  return 1
}
old= oldrel=
if [ -n "$cur" ] && u=$(live_of "$cur"); then
  old=$u oldrel=$cur
elif [ -f "$legacy" ] && [ "$(prop ActiveState "$app.service")" = active ]; then
  old="$app.service" oldrel=$cur
fi
fail() {
  say "why $1"
  inv=$(prop InvocationID "$unit")
  systemctl stop "$unit" 2>/dev/null
  systemctl reset-failed "$unit" 2>/dev/null
  if [ -n "$swapped" ] && mv -f "$envf.was" "$envf"; then step "$envf restored: the settings before this change"; fi
  if [ -n "$inv" ]; then
    # journald may still be reading an instance that failed at once: read
    # until two reads agree, up to 5 s (measured: the failing file's line
    # was missing now and then under load; 2 s was not always enough on a
    # loaded 2-core machine).
    lines= prev=x
    for _ in $(seq 20); do
      lines=$(journalctl --no-pager -q -o cat -n 25 _SYSTEMD_INVOCATION_ID="$inv")
      [ -n "$lines" ] && [ "$lines" = "$prev" ] && break
      prev=$lines
      sleep 0.25
    done
    # A process that exits at once can beat journald to its own lines,
    # which then carry no invocation ID: the unit's lines since this start.
    [ -n "$lines" ] || lines=$(journalctl --no-pager -q -o cat -n 25 -u "$unit" --since "@$started")
    [ -n "$lines" ] && printf '%s\n' "$lines" | sed 's/^/log /'
  fi
  if [ -n "$old" ]; then
    step "$old kept serving release ${oldrel:-?}; current and previous unchanged"
    finish rolled-back "kept=${oldrel:-$old}"
  else
    step "nothing was serving before; current and previous unchanged"
    finish failed
  fi
  exit 1
}
if [ "$(prop ActiveState "$unit")" = active ]; then
  step "$unit already runs"
else
  systemctl reset-failed "$unit" 2>/dev/null
  if [ -n "$envnew" ]; then
    # The previous file stays as .was (a hard link) until the new instance is ready.
    ln -f "$envf" "$envf.was" && mv -f "$envnew" "$envf" || fail "could not put $envnew in place of $envf"
    swapped=1
    step "$envf replaced by the new settings"
  fi
  before=$(prop InvocationID "$unit")
  step "starting $unit beside ${old:-nothing}, up to ${tmo}s for READY=1 (migrations, database, readiness)"
  started=$(date +%s)
  systemctl start --no-block "$unit" || fail "systemctl start $unit failed"
  end=$(( $(date +%s) + tmo ))
  while :; do
    # One read: two would race the state they describe.
    st= sub= inv=
    for kv in $(systemctl show -p ActiveState -p SubState -p InvocationID "$unit"); do
      case $kv in
      ActiveState=*) st=${kv#*=} ;;
      SubState=*) sub=${kv#*=} ;;
      InvocationID=*) inv=${kv#*=} ;;
      esac
    done
    if [ "$inv" != "$before" ]; then
      case "$st/$sub" in
      active/running) break ;;
      activating/start|activating/start-pre|activating/start-post|activating/running) ;;
      *) fail "$unit ended before it was ready ($st/$sub)" ;;
      esac
    fi
    [ "$(date +%s)" -lt "$end" ] || fail "$unit not ready within ${tmo}s ($st/$sub): stopped"
    sleep 0.2
  done
fi
status=$(prop StatusText "$unit")
case " $status " in
*" commit=$commit "*) ;;
*) [ -z "$commit" ] || fail "$unit reports \"$status\", want commit=$commit" ;;
esac
step "$unit is ready: $status"
link() {
  ln -sfn "releases/$2" "$1.tmp-$$" && chown -h --reference=releases "$1.tmp-$$" && mv -T "$1.tmp-$$" "$1"
}
# Each state between these renames is valid: previous never equals current.
[ "$prev" = "$new" ] && rm -f previous
link current "$new" || fail "switching $dp/current failed"
if [ -n "$oldrel" ] && [ "$oldrel" != "$new" ]; then link previous "$oldrel"; fi
step "current -> releases/$new, previous -> $(rel previous)"
if [ -n "$old" ]; then
  step "stopping $old: it finishes its requests, the socket stays with $unit"
  systemctl stop "$old"
fi
if [ -f "$legacy" ]; then
  systemctl disable --quiet "$app.service" 2>/dev/null
  systemctl stop "$app.service"
  rm -f "$legacy"
  systemctl daemon-reload
  step "retired $app.service (the layout before instances)"
fi
for u in $(systemctl list-units --plain --no-legend --all "$app@*.service" | awk '{print $1}'); do
  [ "$u" = "$unit" ] && continue
  if [ "$(prop ActiveState "$u")" != inactive ]; then step "stopping leftover $u"; systemctl stop "$u"; fi
  systemctl reset-failed "$u" 2>/dev/null
done
# The socket's own service: active, so traffic never activates anything, and
# it starts the current release at boot.
systemctl enable --quiet "$app-current.service" && systemctl start "$app-current.service"
[ -n "$swapped" ] && rm -f "$envf.was"
finish ok
exit 0`

// followScript starts the handover's transient unit, with the sandboxing
// props (HandoverHardening, DetachedHardening), and prints its journal
// lines (matched by a field only this run carries) until its result line,
// or until the unit is gone without one. Killing it changes nothing on the
// server: the unit runs on.
func followScript(props []string) string {
	var p strings.Builder
	for _, w := range props {
		p.WriteString("-p " + quote(w) + " ")
	}
	return strings.Replace(followTemplate, "PROPERTIES", strings.TrimSpace(p.String()), 1)
}

const followTemplate = `set -u
u=$1 tag=$2 maxsec=$3 desc=$4
shift 4
` + AwaitHandoverGone + `
# The script goes in a file, not in systemd-run's argv: systemd would expand
# its ${...} as environment variables.
f=/run/slipway-handover-$tag.sh
(umask 077; cat > "$f") || exit 1
systemd-run --quiet --collect --unit="$u" --description="$desc" \
  -p RuntimeMaxSec="$maxsec" -p LogExtraFields="SLIPWAY_HANDOVER=$tag" PROPERTIES \
  /bin/sh "$f" "$@" || { rm -f "$f"; exit 1; }
lines() { journalctl --no-pager -q -o cat SLIPWAY_HANDOVER="$tag"; }
gone=0
while :; do
  out=$(lines)
  case "$out" in
  "result "*|*"
result "*) printf '%s\n' "$out"; exit 0 ;;
  esac
  if ! systemctl -q is-active "$u"; then
    gone=$((gone + 1))
    if [ "$gone" -gt 10 ]; then
      printf '%s\n' "$out"
      echo "result failed the handover ended without a result ($(systemctl show -p Result --value "$u"))"
      exit 0
    fi
  fi
  sleep 0.3
done`

// AwaitHandoverGone defines the shell function handover_gone PATTERN: it
// returns once no handover unit matching PATTERN is running (active,
// activating or deactivating), each bounded by its RuntimeMaxSec. Every
// handover runs in a unit of its own name (Config.HandoverUnitFor): a fixed
// name was refused by systemd-run ("Unit ... was already loaded") for a
// while after the previous handover had ended, until systemd unloaded it.
const AwaitHandoverGone = `handover_gone() {
  while systemctl list-units --all --plain --no-legend --state=active,activating,deactivating "$1" 2>/dev/null | grep -q .; do
    sleep 0.2
  done
}`

var releaseRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$`)

// HandoverRequest says which release to make live.
type HandoverRequest struct {
	// Release is the release id to switch to (a folder in ReleasesDir).
	Release string
	// Commit is what the new instance's STATUS= must report ("" skips it).
	Commit string
	// ReadyTimeout bounds the new instance's start; a hang is stopped.
	ReadyTimeout time.Duration
	// LogLine is the start of the deploy.log line the server appends with
	// result= and duration= ("" appends none). Start is when the duration
	// began: when the user's command started.
	LogLine string
	Start   time.Time
	// Instance names the new instance when it is not Release itself: a
	// later generation of the live release (Config.InstanceName), so the
	// same release runs twice during the switch.
	Instance string
	// EnvFile, when set, is a new env file beside the service's (same
	// folder, root:root 0600): the handover renames it over the service's
	// just before the start and puts the previous one back if the new
	// instance never gets ready.
	EnvFile string
}

// HandoverResult is what the server reported.
type HandoverResult struct {
	// Outcome is "ok", "rolled-back" (the new release never became ready,
	// the old one kept serving) or "failed" (nothing was serving before).
	Outcome string
	// Detail is the result line's key=value tail, e.g. kept=<release>.
	Detail string
	// Reason says why the new instance was stopped, when it was.
	Reason string
	// Steps are the steps taken, in order, one line each.
	Steps []string
	// Logs are the new instance's last journal lines when it failed: its
	// own, of this start only.
	Logs []string
}

// Handover makes req.Release the live release on the server, beside the
// live one and then instead of it (see handoverScript): it starts the
// server-side transaction and waits for its result. A non-nil error means
// the result is unknown (connection lost); the server still finishes.
// The deploy lock must be held; the lock's server side waits for a running
// handover before it lets the next deploy in.
func Handover(ctx context.Context, r Runner, c Config, req HandoverRequest) (HandoverResult, error) {
	if req.ReadyTimeout <= 0 {
		return HandoverResult{}, fmt.Errorf("handover: ready timeout %s", req.ReadyTimeout)
	}
	// It names a unit, a folder and a file under /run.
	if !releaseRE.MatchString(req.Release) {
		return HandoverResult{}, fmt.Errorf("handover: release %q: want letters, digits, ., _ and -", req.Release)
	}
	if req.Instance != "" && (!releaseRE.MatchString(req.Instance) || ReleaseOfInstance(req.Instance) != req.Release) {
		return HandoverResult{}, fmt.Errorf("handover: instance %q is not one of release %s", req.Instance, req.Release)
	}
	start := req.Start
	if start.IsZero() {
		start = time.Now()
	}
	tmo := int64((req.ReadyTimeout + time.Second - 1) / time.Second)
	// Room for the start, the old instance's drain and the stop of leftovers.
	maxSec := tmo + 3*int64(c.StopTimeout/time.Second) + 60
	tag := req.Release + "-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	cmd := "sh -c " + quote(followScript(HandoverHardening(c))) + " follow " + quoteAll(
		c.HandoverUnitFor(tag), tag, strconv.FormatInt(maxSec, 10), c.AppName+": handover to release "+req.Release,
		c.AppName, c.DeployPath, req.Release, dash(req.Commit),
		strconv.FormatInt(tmo, 10), dash(req.LogLine), strconv.FormatInt(start.UnixNano(), 10),
		dash(req.Instance), dash(req.EnvFile), c.EnvFile())
	out, err := r.RunRoot(ctx, cmd, strings.NewReader(handoverScript))
	if err != nil {
		if bytes.Contains(out, []byte("already")) {
			return HandoverResult{}, fmt.Errorf("systemd refused the handover's unit %s: %s", c.HandoverUnitFor(tag), bytes.TrimSpace(out))
		}
		return HandoverResult{}, fmt.Errorf("handover to %s: %w: %s", req.Release, err, bytes.TrimSpace(out))
	}
	return parseHandover(out)
}

func parseHandover(out []byte) (HandoverResult, error) {
	var res HandoverResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "step":
			res.Steps = append(res.Steps, rest)
		case "log":
			res.Logs = append(res.Logs, rest)
		case "why":
			res.Reason = rest
		case "result":
			res.Outcome, res.Detail, _ = strings.Cut(rest, " ")
		}
	}
	if res.Outcome == "" {
		return res, fmt.Errorf("handover: no result in the server's output:\n%s", out)
	}
	return res, nil
}

// Instance is one release instance as systemd sees it.
type Instance struct {
	Unit, Release string
	// Generation is 0 for the release's own instance, n for <release>.g<n>.
	Generation int
	// State is ActiveState/SubState, e.g. active/running.
	State string
	// Status is the app's STATUS= line (version and commit once ready).
	Status  string
	MainPID int
}

// Live reports whether the instance is up and said READY=1.
func (i Instance) Live() bool { return i.State == "active/running" }

// Instances lists the release instances systemd knows, running or not,
// and the old layout's single service if it is still installed.
func Instances(ctx context.Context, r Runner, c Config) ([]Instance, error) {
	cmd := fmt.Sprintf(`for u in $(systemctl list-units --plain --no-legend --all %s | awk '{print $1}') $( [ -f %s ] && echo %s); do
  printf '%%s\t%%s/%%s\t%%s\t%%s\n' "$u" "$(systemctl show -p ActiveState --value "$u")" "$(systemctl show -p SubState --value "$u")" "$(systemctl show -p MainPID --value "$u")" "$(systemctl show -p StatusText --value "$u")"
done`, quote(c.InstancePattern()), quote(UnitDir+"/"+c.ServiceUnit()), quote(c.ServiceUnit()))
	out, err := r.Run(ctx, cmd, nil)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w: %s", err, bytes.TrimSpace(out))
	}
	var list []Instance
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), "\t", 4)
		if len(f) != 4 {
			continue
		}
		in := Instance{Unit: f[0], State: f[1], Status: f[3]}
		in.MainPID, _ = strconv.Atoi(f[2])
		if name, ok := strings.CutPrefix(strings.TrimSuffix(f[0], ".service"), c.AppName+"@"); ok {
			in.Release, in.Generation = splitInstance(name)
		}
		list = append(list, in)
	}
	return list, nil
}

// InstanceLive reports whether the release's instance is live and reports
// commit in its STATUS= line ("" accepts any).
func InstanceLive(ctx context.Context, r Runner, c Config, release, commit string) (bool, error) {
	list, err := Instances(ctx, r, c)
	if err != nil {
		return false, err
	}
	for _, in := range list {
		if in.Release == release && in.Live() {
			return commit == "" || strings.Contains(" "+in.Status+" ", " commit="+commit+" "), nil
		}
	}
	return false, nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ReleaseOfInstance is the release an instance name runs: the name without
// its generation suffix (.g<n>), as the template's ExecStart strips it.
func ReleaseOfInstance(name string) string {
	rel, _ := splitInstance(name)
	return rel
}

func splitInstance(name string) (string, int) {
	i := strings.LastIndex(name, ".g")
	if i < 0 {
		return name, 0
	}
	n, err := strconv.Atoi(name[i+2:])
	if err != nil || n < 1 {
		return name, 0
	}
	return name[:i], n
}
