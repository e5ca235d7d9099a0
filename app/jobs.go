package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/slipway-dev/slipway/internal/config"
	"github.com/slipway-dev/slipway/internal/version"
)

// Job is a function the server runs on a schedule: one systemd timer per
// job runs `app job NAME` from the current release, as the service's user,
// with its env file and sandboxing. A run never overlaps the job's own
// previous run, and on several hosts only one host runs it (see
// docs/jobs.md).
type Job struct {
	// Name names the job's units (<app>-job-<name>.timer) and its lock:
	// lower-case letters, digits and -, starting with a letter.
	Name string
	// Schedule is when it runs, in systemd's OnCalendar syntax: "hourly",
	// "*-*-* 03:00:00", "Mon..Fri 08:00", "*:0/15" (see systemd.time(7);
	// `systemd-analyze calendar SCHEDULE` on the server checks one).
	Schedule string
	// TimeZone is the schedule's zone (e.g. "Europe/Paris"); "" is the
	// server's.
	TimeZone string
	// Deadline bounds one run: Run's context is cancelled then, and
	// systemd stops the run soon after (RuntimeMaxSec=). 0 is an hour.
	Deadline time.Duration
	// Run does the work; an error (or a panic) fails the run, which
	// notifies DEPLOY_NOTIFY_URL from the server.
	Run func(ctx context.Context, d Deps) error
}

// Worker is a long-running process the server keeps up beside the web
// process: `app worker NAME`, Instances times. A deploy starts the new
// release's workers once its web instance is ready, then stops the old
// ones.
type Worker struct {
	// Name names the worker's units (<app>-worker-<name>@...): lower-case
	// letters, digits and -, starting with a letter.
	Name string
	// Instances is how many processes run it; 0 is 1.
	Instances int
	// Run works until ctx is cancelled (the stop signal of a deploy, a
	// rollback or a shutdown), then finishes what it holds and returns
	// before the drain deadline (the unit's TimeoutStopSec). Returning
	// before ctx is done counts as a failure: systemd restarts it.
	Run func(ctx context.Context, d Deps) error
}

// DefaultJobDeadline is a job's Deadline when it gives none.
const DefaultJobDeadline = time.Hour

// MaxWorkerInstances bounds Worker.Instances.
const MaxWorkerInstances = 32

var (
	procName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)
	// OnCalendar's characters; systemd-analyze on the server checks the rest.
	scheduleRE = regexp.MustCompile(`^[A-Za-z0-9 *:,./~+_-]{1,120}$`)
	zoneRE     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+/-]{0,60}$`)
)

// checkProcs reports the first bad job or worker in one line naming it and
// the fix.
func checkProcs(c Config) error {
	seen := map[string]bool{}
	for i, j := range c.Jobs {
		what := fmt.Sprintf("app.Config.Jobs[%d] %q", i, j.Name)
		switch {
		case !procName.MatchString(j.Name):
			return fmt.Errorf("%s: name it with lower-case letters, digits and - (a letter first, up to 31)", what)
		case seen["job "+j.Name]:
			return fmt.Errorf("%s: two jobs have this name: give each its own", what)
		case !scheduleRE.MatchString(j.Schedule):
			return fmt.Errorf("%s: schedule %q is not an OnCalendar expression: use e.g. \"hourly\" or \"*-*-* 03:00:00\" (systemd.time(7))", what, j.Schedule)
		case j.TimeZone != "" && !zoneRE.MatchString(j.TimeZone):
			return fmt.Errorf("%s: time zone %q: use a zone name such as Europe/Paris, or \"\" for the server's", what, j.TimeZone)
		case j.Deadline < 0 || (j.Deadline > 0 && j.Deadline < time.Second):
			return fmt.Errorf("%s: deadline %s: use at least 1s, or 0 for %s", what, j.Deadline, DefaultJobDeadline)
		case j.Run == nil:
			return fmt.Errorf("%s: Run is nil: give the function the job runs", what)
		}
		seen["job "+j.Name] = true
	}
	for i, w := range c.Workers {
		what := fmt.Sprintf("app.Config.Workers[%d] %q", i, w.Name)
		switch {
		case !procName.MatchString(w.Name):
			return fmt.Errorf("%s: name it with lower-case letters, digits and - (a letter first, up to 31)", what)
		case seen["worker "+w.Name]:
			return fmt.Errorf("%s: two workers have this name: give each its own", what)
		case w.Instances < 0 || w.Instances > MaxWorkerInstances:
			return fmt.Errorf("%s: %d instances: use 1 to %d (0 is 1)", what, w.Instances, MaxWorkerInstances)
		case w.Run == nil:
			return fmt.Errorf("%s: Run is nil: give the function the worker runs", what)
		}
		seen["worker "+w.Name] = true
	}
	return nil
}

func (j Job) deadline() time.Duration {
	if j.Deadline == 0 {
		return DefaultJobDeadline
	}
	return j.Deadline
}

// procs is what `app jobs -json` prints: the release's jobs and workers,
// which the server's units are made from at each switch.
type procs struct {
	Jobs    []jobSpec    `json:"jobs"`
	Workers []workerSpec `json:"workers"`
}

type jobSpec struct {
	Name        string `json:"name"`
	Schedule    string `json:"schedule"`
	TimeZone    string `json:"time_zone,omitempty"`
	DeadlineSec int64  `json:"deadline_sec"`
}

type workerSpec struct {
	Name      string `json:"name"`
	Instances int    `json:"instances"`
}

// jobsCmd is `app jobs [-json]`: the jobs and workers this binary holds.
func jobsCmd(c Config, args []string, stdout io.Writer) error {
	asJSON := len(args) == 1 && (args[0] == "-json" || args[0] == "--json")
	if len(args) > 0 && !asJSON {
		return errors.New("jobs: use `app jobs` or `app jobs -json`")
	}
	p := procs{Jobs: []jobSpec{}, Workers: []workerSpec{}}
	for _, j := range c.Jobs {
		p.Jobs = append(p.Jobs, jobSpec{Name: j.Name, Schedule: j.Schedule, TimeZone: j.TimeZone,
			DeadlineSec: int64((j.deadline() + time.Second - 1) / time.Second)})
	}
	for _, w := range c.Workers {
		p.Workers = append(p.Workers, workerSpec{Name: w.Name, Instances: max(w.Instances, 1)})
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(p)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tSCHEDULE / INSTANCES\tDEADLINE")
	for _, j := range p.Jobs {
		s := j.Schedule
		if j.TimeZone != "" {
			s += " " + j.TimeZone
		}
		fmt.Fprintf(tw, "job\t%s\t%s\t%ds\n", j.Name, s, j.DeadlineSec)
	}
	for _, w := range p.Workers {
		fmt.Fprintf(tw, "worker\t%s\t%d\t-\n", w.Name, w.Instances)
	}
	return tw.Flush()
}

// JobLockKey is the PostgreSQL advisory lock a run of the job named name
// holds (pg_try_advisory_lock, on a session of its own, for the whole
// run): on several hosts every timer fires, and the run that gets the lock
// is the one that works. Exported for tests and for apps that want to
// check it from SQL.
func JobLockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("slipway job " + name))
	return int64(h.Sum64())
}

// jobCmd is `app job NAME`: one run, now, under the job's lock.
func jobCmd(ctx context.Context, c Config, args []string, cfg config.Config, getenv func(string) string, log *slog.Logger, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("job: use `app job NAME` (`app jobs` lists them)")
	}
	var job *Job
	for i := range c.Jobs {
		if c.Jobs[i].Name == args[0] {
			job = &c.Jobs[i]
		}
	}
	if job == nil {
		return fmt.Errorf("job %q: this release has no such job (`app jobs` lists them)", args[0])
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log = log.With("job", job.Name)
	d, err := open(ctx, c, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	host, _ := os.Hostname()
	// The lock lives with this session: held on one connection taken out
	// of the pool for the run, released with it even if the process dies.
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("job %s: %w", job.Name, err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT set_config('application_name', $1, false)", "slipway job "+job.Name+" on "+host); err != nil {
		return fmt.Errorf("job %s: %w", job.Name, err)
	}
	key := JobLockKey(job.Name)
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
		return fmt.Errorf("job %s: take its lock: %w", job.Name, err)
	}
	if !got {
		holder := "another session"
		var app string
		// A bigint key shows in pg_locks as classid (high half), objid (low half), objsubid 1.
		err := conn.QueryRow(ctx, `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
			AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
			int64(uint64(key)>>32), int64(uint64(key)&0xffffffff)).Scan(&app)
		if err == nil && app != "" {
			holder = app
		}
		if h, ok := cutHost(app); ok {
			holder = h
		}
		log.Info("skipped: running on " + holder)
		fmt.Fprintf(stdout, "job %s skipped: running on %s\n", job.Name, holder)
		return nil
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key)
	v := version.Get()
	deps := Deps{Pool: d.pool, Log: log, Getenv: getenv, Version: v.Version, Commit: v.Commit}
	runCtx, cancel := context.WithTimeout(ctx, job.deadline())
	defer cancel()
	start := time.Now()
	log.Info("job started", "host", host, "release", getenv("SLIPWAY_RELEASE"))
	err = runGuarded(runCtx, job.Run, deps)
	took := time.Since(start).Round(time.Millisecond)
	switch {
	case err != nil && errors.Is(runCtx.Err(), context.DeadlineExceeded):
		err = fmt.Errorf("job %s: ran past its deadline of %s: %w", job.Name, job.deadline(), err)
	case err != nil:
		err = fmt.Errorf("job %s: %w", job.Name, err)
	}
	if err != nil {
		log.Error("job failed", "took", took.String(), "err", err)
		return err
	}
	log.Info("job done", "took", took.String())
	fmt.Fprintf(stdout, "job %s done in %s\n", job.Name, took)
	return nil
}

var holderRE = regexp.MustCompile(`^slipway job \S+ on (.+)$`)

// cutHost reads the host out of "slipway job NAME on HOST".
func cutHost(app string) (string, bool) {
	m := holderRE.FindStringSubmatch(app)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// runGuarded runs fn, turning a panic into an error: a job or worker that
// panics fails like one that returns an error, with the panic's value.
func runGuarded(ctx context.Context, fn func(context.Context, Deps) error, d Deps) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return fn(ctx, d)
}

// workerCmd is `app worker NAME`: runs the worker until SIGTERM or SIGINT,
// then waits for it to return.
func workerCmd(ctx context.Context, c Config, args []string, cfg config.Config, getenv func(string) string, log *slog.Logger) error {
	if len(args) != 1 {
		return errors.New("worker: use `app worker NAME` (`app jobs` lists them)")
	}
	var w *Worker
	for i := range c.Workers {
		if c.Workers[i].Name == args[0] {
			w = &c.Workers[i]
		}
	}
	if w == nil {
		return fmt.Errorf("worker %q: this release has no such worker (`app jobs` lists them)", args[0])
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log = log.With("worker", w.Name)
	d, err := open(ctx, c, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	v := version.Get()
	log.Info("worker started", "release", getenv("SLIPWAY_RELEASE"))
	start := time.Now()
	err = runGuarded(ctx, w.Run, Deps{Pool: d.pool, Log: log, Getenv: getenv, Version: v.Version, Commit: v.Commit})
	switch {
	case err != nil:
		log.Error("worker failed", "err", err)
		return fmt.Errorf("worker %s: %w", w.Name, err)
	case ctx.Err() == nil:
		log.Error("worker returned before the stop signal")
		return fmt.Errorf("worker %s returned before the stop signal: a worker runs until its context is cancelled", w.Name)
	}
	log.Info("worker stopped", "after", time.Since(start).Round(time.Millisecond).String())
	return nil
}
