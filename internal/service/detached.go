package service

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Detached runs script as root on the server in a transient unit of its own,
// the way Handover runs the switch: the unit is one of the HandoverUnit
// pattern, so the deploy lock's server side waits for it as for a handover,
// and a client killed at any point leaves it running to its end (bounded by
// maxRun). script prints "result <outcome> ..." last; Detached returns its
// output up to that line. name (letters, digits, ., _, -) starts the unit's
// tag. A non-nil error means the outcome is unknown: the server finishes.
// The unit is sandboxed by DetachedHardening: what script needs beyond it
// (another capability, a path to write) must be added there.
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
