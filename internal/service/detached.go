package service

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/helper"
)

// DetachedJob is the transient unit a helper step runs detached in
// (helper.Detach), for backups and restores: named like a handover
// (HandoverUnitFor(<name>-<nanoseconds>)), so the deploy lock's server
// side waits for it as for a handover, bounded by maxRun and sandboxed by
// DetachedHardening. name: letters, digits, ., _ and -.
func DetachedJob(c Config, name, desc string, maxRun time.Duration) (helper.Detached, error) {
	if !releaseRE.MatchString(name) {
		return helper.Detached{}, fmt.Errorf("detached: name %q: want letters, digits, ., _ and -", name)
	}
	tag := name + "-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	return helper.Detached{
		Unit:        c.HandoverUnitFor(tag),
		Description: c.AppName + ": " + desc,
		MaxSec:      int64(maxRun/time.Second) + 1,
		Properties:  DetachedHardening(c),
	}, nil
}

// Detached runs script as root on the server in a transient unit of its own,
// the way Handover runs the switch: the unit is one of the HandoverUnit
// pattern, so the deploy lock's server side waits for it as for a handover,
// and a client killed at any point leaves it running to its end (bounded by
// maxRun). script prints "result <outcome> ..." last; Detached returns its
// output up to that line. name (letters, digits, ., _, -) starts the unit's
// tag. A non-nil error means the outcome is unknown: the server finishes.
// The unit is sandboxed by DetachedHardening: what script needs beyond it
// (another capability, a path to write) must be added there.
//
// It serves the backup scripts not yet ported to helper steps; a step
// runs detached with DetachedJob and helper.Detach instead.
func Detached(ctx context.Context, r Runner, c Config, name, desc string, maxRun time.Duration, script string, args ...string) ([]byte, error) {
	if !releaseRE.MatchString(name) {
		return nil, fmt.Errorf("detached: name %q: want letters, digits, ., _ and -", name)
	}
	tag := name + "-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	maxSec := int64(maxRun/time.Second) + 1
	words := append([]string{c.HandoverUnitFor(tag), tag, strconv.FormatInt(maxSec, 10), c.AppName + ": " + desc}, args...)
	out, err := r.RunRoot(ctx, "sh -c "+quote(followScript(DetachedHardening(c)))+" follow "+quoteAll(words...), strings.NewReader(script))
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", desc, err, bytes.TrimSpace(out))
	}
	return out, nil
}

// followScript starts a script's transient unit, with the sandboxing
// props, and prints its journal lines (matched by a field only this run
// carries) until its result line, or until the unit is gone without one.
// Killing it changes nothing on the server: the unit runs on.
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
