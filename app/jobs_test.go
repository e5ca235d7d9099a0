package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slipway-dev/slipway/app"
	"github.com/slipway-dev/slipway/internal/pgtest"
)

var noMigrations = fstest.MapFS{"00001_none.sql": {Data: []byte("-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n")}}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestJobsListsTheJobsAndWorkersAsJSONWithoutADatabase(t *testing.T) {
	c := app.Config{
		Jobs: []app.Job{{Name: "prune", Schedule: "*:0/10", Run: func(context.Context, app.Deps) error { return nil }},
			{Name: "report", Schedule: "Mon 08:00", TimeZone: "Europe/Paris", Deadline: 90 * time.Second, Run: func(context.Context, app.Deps) error { return nil }}},
		Workers: []app.Worker{{Name: "mailer", Run: func(context.Context, app.Deps) error { return nil }}},
	}
	var out bytes.Buffer
	if err := app.Run(context.Background(), c, []string{"jobs", "-json"}, envOf(nil), nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Jobs []struct {
			Name, Schedule, TimeZone string `json:",omitempty"`
			DeadlineSec              int64  `json:"deadline_sec"`
		}
		Workers []struct {
			Name      string
			Instances int
		}
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if len(got.Jobs) != 2 || got.Jobs[0].DeadlineSec != 3600 || got.Jobs[1].DeadlineSec != 90 || got.Jobs[1].Schedule != "Mon 08:00" {
		t.Errorf("jobs: %s", out.String())
	}
	if len(got.Workers) != 1 || got.Workers[0].Instances != 1 {
		t.Errorf("workers: %s", out.String())
	}
}

func TestABadJobOrWorkerIsRefusedInOneLineNamingIt(t *testing.T) {
	ok := func(context.Context, app.Deps) error { return nil }
	for _, tc := range []struct {
		c    app.Config
		want string
	}{
		{app.Config{Jobs: []app.Job{{Name: "Prune", Schedule: "hourly", Run: ok}}}, `"Prune": name it with lower-case`},
		{app.Config{Jobs: []app.Job{{Name: "a", Schedule: "hourly", Run: ok}, {Name: "a", Schedule: "daily", Run: ok}}}, "two jobs have this name"},
		{app.Config{Jobs: []app.Job{{Name: "a", Schedule: "hourly; rm -rf /", Run: ok}}}, "is not an OnCalendar expression"},
		{app.Config{Jobs: []app.Job{{Name: "a", Schedule: "", Run: ok}}}, "is not an OnCalendar expression"},
		{app.Config{Jobs: []app.Job{{Name: "a", Schedule: "hourly"}}}, "Run is nil"},
		{app.Config{Jobs: []app.Job{{Name: "a", Schedule: "hourly", Deadline: time.Millisecond, Run: ok}}}, "use at least 1s"},
		{app.Config{Workers: []app.Worker{{Name: "w", Instances: 99, Run: ok}}}, "99 instances"},
	} {
		var out bytes.Buffer
		err := app.Run(context.Background(), tc.c, []string{"jobs", "-json"}, envOf(nil), nil, &out, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: got %v, want one line with %q", tc.c.Jobs, err, tc.want)
		}
		if out.Len() > 0 {
			t.Errorf("printed %q on a bad config", out.String())
		}
	}
}

// TestAJobRunsUnderItsLockAndASecondRunIsSkipped: while one run holds the
// job's lock (as another host's would), `app job` logs who runs it and
// exits 0; once free, it runs, and a failure is an error.
func TestAJobRunsUnderItsLockAndASecondRunIsSkipped(t *testing.T) {
	url := pgtest.EmptyURL(t)
	env := envOf(map[string]string{"DATABASE_URL": url, "LOG_FORMAT": "json", "SLIPWAY_RELEASE": "r1"})
	var runs atomic.Int32
	fail := false
	c := app.Config{Migrations: noMigrations, Jobs: []app.Job{{Name: "tick", Schedule: "minutely", Run: func(ctx context.Context, d app.Deps) error {
		runs.Add(1)
		if d.Pool == nil || d.Getenv("SLIPWAY_RELEASE") != "r1" {
			return errors.New("no deps")
		}
		if fail {
			return errors.New("the report server said no")
		}
		return nil
	}}}}
	ctx := context.Background()
	// Another host's run: a session holding the lock, named as a run names itself.
	other, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	if _, err := other.Exec(ctx, "SELECT set_config('application_name', 'slipway job tick on web-2', false), pg_advisory_lock($1)", app.JobLockKey("tick")); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := app.Run(ctx, c, []string{"job", "tick"}, env, nil, &out, &out); err != nil {
		t.Fatalf("a skipped run must exit 0: %v\n%s", err, out.String())
	}
	if runs.Load() != 0 || !strings.Contains(out.String(), "skipped: running on web-2") {
		t.Fatalf("runs %d, output:\n%s", runs.Load(), out.String())
	}
	if _, err := other.Exec(ctx, "SELECT pg_advisory_unlock($1)", app.JobLockKey("tick")); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := app.Run(ctx, c, []string{"job", "tick"}, env, nil, &out, &out); err != nil || runs.Load() != 1 {
		t.Fatalf("runs %d, err %v\n%s", runs.Load(), err, out.String())
	}
	// The lock went with the run: the other session takes it at once.
	var free bool
	if err := other.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", app.JobLockKey("tick")).Scan(&free); err != nil || !free {
		t.Errorf("the lock is still held after the run: %v %v", free, err)
	}
	other.Exec(ctx, "SELECT pg_advisory_unlock_all()")
	fail = true
	err = app.Run(ctx, c, []string{"job", "tick"}, env, nil, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "job tick: the report server said no") {
		t.Errorf("a failing run: %v", err)
	}
	if err := app.Run(ctx, c, []string{"job", "nope"}, env, nil, &out, &out); err == nil || !strings.Contains(err.Error(), `job "nope": this release has no such job`) {
		t.Errorf("an unknown job: %v", err)
	}
}

func TestAJobPastItsDeadlineFails(t *testing.T) {
	env := envOf(map[string]string{"DATABASE_URL": pgtest.EmptyURL(t)})
	c := app.Config{Migrations: noMigrations, Jobs: []app.Job{{Name: "slow", Schedule: "minutely", Deadline: time.Second,
		Run: func(ctx context.Context, _ app.Deps) error { <-ctx.Done(); return ctx.Err() }}}}
	var out bytes.Buffer
	err := app.Run(context.Background(), c, []string{"job", "slow"}, env, nil, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "ran past its deadline of 1s") {
		t.Errorf("got %v", err)
	}
}

// TestAWorkerDrainsOnTheStopSignal: Run's context ends on the signal (the
// test cancels Run's), the worker finishes what it holds and the command
// returns nil; a worker that returns on its own is a failure.
func TestAWorkerDrainsOnTheStopSignal(t *testing.T) {
	env := envOf(map[string]string{"DATABASE_URL": pgtest.EmptyURL(t)})
	var drained atomic.Bool
	started := make(chan struct{})
	c := app.Config{Migrations: noMigrations, Workers: []app.Worker{
		{Name: "q", Run: func(ctx context.Context, d app.Deps) error {
			close(started)
			<-ctx.Done()
			time.Sleep(100 * time.Millisecond) // finishing the item it holds
			drained.Store(true)
			return nil
		}},
		{Name: "quitter", Run: func(context.Context, app.Deps) error { return nil }},
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- app.Run(ctx, c, []string{"worker", "q"}, env, nil, &out, &out) }()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("worker ended before it started: %v", err)
	}
	cancel()
	if err := <-done; err != nil || !drained.Load() {
		t.Fatalf("drain: %v, drained %v", err, drained.Load())
	}
	err := app.Run(context.Background(), c, []string{"worker", "quitter"}, env, nil, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "returned before the stop signal") {
		t.Errorf("a worker returning on its own: %v", err)
	}
}
