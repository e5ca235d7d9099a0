package service

import (
	"fmt"
	"strconv"
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
