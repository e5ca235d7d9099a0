package main

import (
	"context"
	"fmt"
	"time"

	"github.com/slipway-dev/slipway/app"
	"github.com/slipway-dev/slipway/internal/admin"
)

// jobs are this app's scheduled jobs (docs/jobs.md): pruning expired
// sessions and old failed logins, which ran inside the web process before
// and now runs once per PruneEvery on one host, whatever the number of
// web instances.
func jobs() []app.Job {
	return []app.Job{{
		Name:     "prune-sessions",
		Schedule: fmt.Sprintf("*:0/%d", int(admin.PruneEvery/time.Minute)),
		Deadline: 5 * time.Minute,
		Run: func(ctx context.Context, d app.Deps) error {
			s, f, err := admin.Prune(ctx, d.Pool, admin.DefaultLimits.Window)
			if err != nil {
				return err
			}
			d.Log.Info("pruned", "expired_sessions", s, "old_failed_logins", f)
			return nil
		},
	}}
}

// workers are this app's workers: login-watch warns in the journal about
// an account under a password-guessing attack (admin.WatchFailures).
func workers() []app.Worker {
	return []app.Worker{{
		Name: "login-watch",
		Run: func(ctx context.Context, d app.Deps) error {
			return admin.WatchFailures(ctx, d.Pool, d.Log)
		},
	}}
}
