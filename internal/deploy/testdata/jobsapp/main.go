// Command jobsapp is an app with jobs and a worker, for the sandbox tests
// of issue 31. Each run of a job records itself in job_runs (the binary's
// version stamp tells which release ran it, JOB_MARKER from the env file
// that it saw the service's settings); the worker drains a queue table,
// recording each attempt outside the item's transaction.
//
//	tick   every 2 s, returns at once
//	slow   every second, runs SLOW_SECONDS (default 4): overlap and switch
//	fail   never on its own (a far date): started by hand, it fails; a
//	       binary whose version ends in -nofail lacks it (a removed job)
//	queue  worker, 2 processes, ITEM_MS per item (default 3)
package main

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slipway-dev/slipway/app"
	"github.com/slipway-dev/slipway/internal/version"
)

//go:embed migrations/*.sql
var migrations embed.FS

func main() {
	m, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err)
	}
	jobs := []app.Job{
		{Name: "tick", Schedule: "*:*:0/2", Run: record("tick", 0)},
		{Name: "slow", Schedule: "*:*:*", Deadline: time.Minute, Run: func(ctx context.Context, d app.Deps) error {
			n, _ := strconv.Atoi(d.Getenv("SLOW_SECONDS"))
			if n == 0 {
				n = 4
			}
			return record("slow", time.Duration(n)*time.Second)(ctx, d)
		}},
	}
	if !strings.HasSuffix(version.Version, "-nofail") {
		jobs = append(jobs, app.Job{Name: "fail", Schedule: "2099-01-01", Run: func(context.Context, app.Deps) error {
			return errors.New("the report server said no")
		}})
	}
	app.Main(app.Config{
		Migrations: m,
		Jobs:       jobs,
		Workers:    []app.Worker{{Name: "queue", Instances: 2, Run: queue}},
	})
}

// record is a job that records its run, taking d.
func record(job string, d time.Duration) func(context.Context, app.Deps) error {
	return func(ctx context.Context, deps app.Deps) error {
		host, _ := os.Hostname()
		var id int64
		if err := deps.Pool.QueryRow(ctx, `INSERT INTO job_runs (job, version, marker, host) VALUES ($1, $2, $3, $4) RETURNING id`,
			job, deps.Version, deps.Getenv("JOB_MARKER"), host).Scan(&id); err != nil {
			return err
		}
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
		_, err := deps.Pool.Exec(context.WithoutCancel(ctx), `UPDATE job_runs SET finished = clock_timestamp() WHERE id = $1`, id)
		return err
	}
}

// queue processes items one at a time until ctx ends, then finishes the
// item it holds and returns.
func queue(ctx context.Context, d app.Deps) error {
	ms, _ := strconv.Atoi(d.Getenv("ITEM_MS"))
	if ms == 0 {
		ms = 3
	}
	for ctx.Err() == nil {
		// The item's work must not be cut by the stop signal: drain.
		work := context.WithoutCancel(ctx)
		done, err := one(work, d, time.Duration(ms)*time.Millisecond)
		if err != nil {
			return err
		}
		if !done {
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

// one processes the oldest free item; false when there is none.
func one(ctx context.Context, d app.Deps, took time.Duration) (bool, error) {
	tx, err := d.Pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(ctx)
	var id int64
	err = tx.QueryRow(ctx, `SELECT id FROM queue WHERE processed_at IS NULL ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// Outside the item's transaction: an attempt that never commits still counts.
	if _, err := d.Pool.Exec(ctx, `INSERT INTO attempts (item, version) VALUES ($1, $2)`, id, d.Version); err != nil {
		return false, err
	}
	time.Sleep(took)
	if _, err := tx.Exec(ctx, `UPDATE queue SET processed_at = clock_timestamp(), processed_by = $2, times = times + 1 WHERE id = $1`, id, d.Version); err != nil {
		return false, err
	}
	return true, tx.Commit(ctx)
}
