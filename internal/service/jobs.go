package service

import (
	"time"

	"github.com/slipway-dev/slipway/internal/helper"
)

// ProcUnits is what the app's job and worker units share with its web
// instances (user, env file, memory bound, sandboxing), sent with each
// switch: the helper writes the units of the release it switches to from
// it (helper.ProcUnits, docs/jobs.md). Workers drain within StopTimeout,
// as the web instances do; a failed run or worker notifies through the
// notify template (DESIGN-28 section 2).
func ProcUnits(c Config) *helper.ProcUnits {
	return &helper.ProcUnits{
		User: c.ServiceUser, EnvFile: c.EnvFile(), CurrentLink: c.CurrentLink(), ReleasesDir: c.ReleasesDir(),
		MemoryMax: c.MemoryMax, StopTimeoutSec: int64((c.StopTimeout + time.Second - 1) / time.Second),
		Hardening: Hardening(c), CurrentBind: CurrentBind(c),
		OnFailure: helper.OnFailure(c.AppName),
	}
}

// JobUnit is a job's service unit, e.g. app-job-prune.service.
func (c Config) JobUnit(name string) string { return helper.JobUnit(c.AppName, name) }

// JobTimer is a job's timer, e.g. app-job-prune.timer.
func (c Config) JobTimer(name string) string { return helper.JobTimer(c.AppName, name) }

// WorkerPattern matches every worker process of the app, e.g. app-worker-*@*.service.
func (c Config) WorkerPattern() string { return c.AppName + "-worker-*@*.service" }
