package targets

import (
	"context"

	"github.com/magefile/mage/mg"

	"github.com/slipway-dev/slipway/internal/deploy"
)

// ---- jobs ----

// Jobs lists each $DEPLOY_HOST's scheduled jobs (schedule, last run: when, how long, result; next run) and worker processes.
// The jobs and workers are the app's app.Config.Jobs and Workers, as the
// live release declared them (docs/jobs.md).
func Jobs(ctx context.Context) error {
	_, o, err := deployOptions()
	if err != nil {
		return err
	}
	return deploy.Jobs(ctx, o)
}

// Job runs one scheduled job now: job:run NAME.
type Job mg.Namespace

// Run runs the job NAME now on the first $DEPLOY_HOST, as its timer would, its output streamed back: job:run NAME.
// The run takes the job's lock like any other; one already going is
// followed instead. The exit status is the run's.
func (Job) Run(ctx context.Context, name string) error {
	_, o, err := deployOptions()
	if err != nil {
		return err
	}
	return exitStatus(deploy.RunJob(ctx, o, name))
}
