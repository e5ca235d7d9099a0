package deploy

// Jobs and workers on the sandbox (issue 31): timers that run the current
// release's `app job NAME`, and workers handed over with the web process,
// through deploys, a rollback and a deploy client killed mid-handover.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/notify"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest/apptest"
	"github.com/slipway-dev/slipway/internal/service"
)

func jobsBinary(t *testing.T, version, commit string) string {
	return buildBinary(t, "./internal/deploy/testdata/jobsapp", version, commit)
}

// waitFor polls query (psql on db) until it prints want, up to within.
func (e sandboxEnv) waitFor(t *testing.T, db, query, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := e.psql(t, db, query)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s printed %q after %s, want %q", query, got, within, want)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// switchedAt is when the current link last changed (its own mtime).
func (e sandboxEnv) switchedAt(t *testing.T) time.Time {
	t.Helper()
	s := e.sh(t, "stat -c %.9Y "+e.svc.CurrentLink())
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("stat: %q", s)
	}
	return time.Unix(0, int64(f*1e9))
}

type jobRun struct {
	version           string
	started, finished time.Time
}

// runs lists job's runs, oldest first; an unfinished run has a zero finished.
func (e sandboxEnv) runs(t *testing.T, db, job string) []jobRun {
	t.Helper()
	out := e.psql(t, db, fmt.Sprintf(`SELECT version, extract(epoch FROM started), coalesce(extract(epoch FROM finished), 0) FROM job_runs WHERE job = '%s' ORDER BY started`, job))
	var runs []jobRun
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "|")
		if len(f) != 3 {
			continue
		}
		s, _ := strconv.ParseFloat(f[1], 64)
		r := jobRun{version: f[0], started: time.Unix(0, int64(s*1e9))}
		if x, _ := strconv.ParseFloat(f[2], 64); x > 0 {
			r.finished = time.Unix(0, int64(x*1e9))
		}
		runs = append(runs, r)
	}
	return runs
}

func TestJobsAndWorkersOnSandbox(t *testing.T) {
	sb := sandboxtest.Get(t)
	const db = "jobs"
	url, err := sb.FreshDatabase(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	svc := service.DefaultsFor("jobs")
	// The sandbox's PostgreSQL knows one role, app, by peer authentication.
	svc.ServiceUser = "app"
	a := apptest.Installed(t, sb, svc, apptest.Options{DatabaseURL: url,
		Env: []string{"JOB_MARKER=from-the-env-file", "SLOW_SECONDS=8", "ITEM_MS=3"}})
	e := sandboxEnv{sb: sb, svc: a.Service}
	t.Cleanup(func() {
		// Its timers fire every second: nothing of it may outlive the test.
		sandboxtest.Run(t, sb, "sh", "-c", "systemctl disable --now 'jobs-job-*.timer' 2>/dev/null; systemctl stop 'jobs-job-*' 'jobs-worker-*' 'jobs@*' jobs-current.service jobs.socket; "+
			"rm -f /etc/systemd/system/jobs-job-* /etc/systemd/system/jobs-worker-*; systemctl daemon-reload; systemctl reset-failed")
	})
	// The webhook receiver: deploy copies DEPLOY_NOTIFY_URL to the
	// server, whose notify template posts a failed job's alert there.
	events := make(chan notify.Event, 64)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var ev notify.Event
		if json.NewDecoder(req.Body).Decode(&ev) == nil && ev.Kind == "job" {
			events <- ev
		}
	}))
	defer hook.Close()
	n, err := notify.New(hook.URL + "/hook/secret")
	if err != nil {
		t.Fatal(err)
	}
	j1, j2 := jobsBinary(t, "j1", "10b00001"), jobsBinary(t, "j2", "10b00002")
	var out bytes.Buffer
	o1 := e.options(&out, j1)
	o1.Notify = n
	r1 := deployOK(t, o1)

	t.Run("a job runs on its schedule from the current release, as the service user, with the env file", func(t *testing.T) {
		e.waitFor(t, db, `SELECT count(*) > 0 FROM job_runs WHERE job = 'tick' AND version = 'j1' AND marker = 'from-the-env-file'`, "t", 20*time.Second)
		if got := e.sh(t, "systemctl show -P User,AccuracyUSec jobs-job-tick.service jobs-job-tick.timer | tr '\\n' ' '"); !strings.Contains(got, "app") {
			t.Errorf("User of the job: %q", got)
		}
		// systemd's own reading of the units: no unknown key, no bad value.
		if got := e.sh(t, "systemd-analyze verify jobs-job-tick.service jobs-job-tick.timer jobs-worker-queue@x.1.service 2>&1 || true"); got != "" {
			t.Errorf("systemd-analyze verify:\n%s", got)
		}
		sec := e.sh(t, "systemd-analyze security --no-pager jobs-job-tick.service | tail -1")
		t.Logf("job unit: %s", sec)
		if !strings.Contains(sec, " OK") {
			t.Errorf("the job's sandboxing: %s", sec)
		}
		if got := e.sh(t, "systemctl show -P Slice jobs-job-tick.service"); got != "system-jobs.slice" {
			t.Errorf("the job runs in %q, not the app's slice (which logs reads)", got)
		}
		if got := e.sh(t, "journalctl -q -t jobs-job-tick -n 20 --no-pager -o cat"); !strings.Contains(got, "job done") {
			t.Errorf("the journal has no line of jobs-job-tick:\n%s", got)
		}
		if got := e.sh(t, "systemctl is-enabled jobs-job-tick.timer; systemctl is-active jobs-job-tick.timer"); got != "enabled\nactive" {
			t.Errorf("the tick timer: %q, want enabled and active", got)
		}
		if w := e.sh(t, "systemctl list-units --plain --no-legend --state=active 'jobs-worker-queue@*' | wc -l"); w != "2" {
			t.Errorf("%s worker processes of %s, want 2", w, r1.Release)
		}
		var st bytes.Buffer
		if err := Status(context.Background(), e.options(&st, ""), 3); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(st.String(), "workers   2\n") || !strings.Contains(st.String(), "jobs-worker-queue@"+r1.Release+".2.service  active/running") {
			t.Errorf("status shows no workers:\n%s", st.String())
		}
	})

	t.Run("a slow run going across a deploy's switch: one run at a time, the next run is the new release's", func(t *testing.T) {
		// Deploy just after a slow run (8 s) began: the switch falls inside it.
		e.waitFor(t, db, `SELECT count(*) > 0 FROM job_runs WHERE job = 'slow' AND finished IS NULL AND started > now() - interval '1 second'`, "t", 30*time.Second)
		// Another host's timer firing now: the same command, outside the
		// unit, finds the job's lock taken and exits 0 without running.
		other := e.sh(t, "systemd-run --quiet --pipe --wait --collect --uid=app --gid=app -p EnvironmentFile="+e.svc.EnvFile()+" "+e.svc.CurrentLink()+"/app job slow 2>&1")
		if !strings.Contains(other, "skipped: running on ") {
			t.Errorf("a second run beside the timer's:\n%s", other)
		}
		deployOK(t, e.options(&out, j2))
		sw := e.switchedAt(t)
		e.waitFor(t, db, `SELECT count(*) > 0 FROM job_runs WHERE job = 'slow' AND version = 'j2' AND finished IS NOT NULL`, "t", 40*time.Second)
		e.waitFor(t, db, `SELECT count(*) > 0 FROM job_runs WHERE job = 'tick' AND version = 'j2'`, "t", 20*time.Second)
		runs := e.runs(t, db, "slow")
		across := false
		for i, r := range runs {
			if r.version == "j1" && r.started.Before(sw) && r.finished.After(sw) {
				across = true
			}
			if i > 0 && !runs[i-1].finished.IsZero() && r.started.Before(runs[i-1].finished) {
				t.Errorf("run %d (%s, %s) started before run %d ended (%s): overlap", i, r.version, r.started.Format(time.StampMilli), i-1, runs[i-1].finished.Format(time.StampMilli))
			}
			// A run records its start once connected: a margin for that.
			if r.started.After(sw.Add(time.Second)) && r.version != "j2" {
				t.Errorf("a run started %s after the switch ran release %s", r.started.Sub(sw), r.version)
			}
		}
		if !across {
			t.Errorf("no slow run of j1 was going at the switch (%s): %v", sw.Format(time.StampMilli), runs)
		}
		for _, r := range e.runs(t, db, "tick") {
			if r.started.After(sw.Add(time.Second)) && r.version != "j2" {
				t.Errorf("a tick started %s after the switch ran release %s", r.started.Sub(sw), r.version)
			}
		}
		t.Logf("slow runs: %d, none overlapping; the switch at %s fell inside a j1 run", len(runs), sw.Format(time.StampMilli))
	})

	t.Run("job:run streams a run; a failing job fails its unit and alerts the webhook from the server; jobs lists them", func(t *testing.T) {
		var run bytes.Buffer
		if err := RunJob(context.Background(), e.options(&run, ""), "tick"); err != nil || !strings.Contains(run.String(), "job done") {
			t.Errorf("job:run tick: %v\n%s", err, run.String())
		}
		run.Reset()
		err := RunJob(context.Background(), e.options(&run, ""), "fail")
		if err == nil || !strings.Contains(err.Error(), "result=exit-code") || !strings.Contains(run.String(), "the report server said no") {
			t.Errorf("job:run fail: %v\n%s", err, run.String())
		}
		if got := e.sh(t, "systemctl show -P Result jobs-job-fail.service"); got != "exit-code" {
			t.Errorf("Result of the failing run: %q", got)
		}
		if got := e.sh(t, "systemctl show -P OnFailure jobs-job-fail.service"); got != "jobs-notify@jobs-job-fail.service.service" {
			t.Errorf("OnFailure: %q", got)
		}
		select {
		case ev := <-events:
			// The only job alert: tick, every 2 s plus a job:run, never
			// hits a start limit.
			if ev.Outcome != "failed" || ev.Cause != "jobs-job-fail.service failed (exit-code)" || ev.Host == "" || strings.Contains(ev.Text, "report server") {
				t.Errorf("alert %+v", ev)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("no alert of the failed job within 30 s:\n%s", e.sh(t, "journalctl --no-pager -n 20 -u 'jobs-notify@*'"))
		}
		if err := RunJob(context.Background(), e.options(&run, ""), "nope"); err == nil || !strings.Contains(err.Error(), `no job "nope"`) {
			t.Errorf("job:run of an unknown job: %v", err)
		}
		var list bytes.Buffer
		if err := Jobs(context.Background(), e.options(&list, "")); err != nil {
			t.Fatal(err)
		}
		t.Logf("jobs:\n%s", list.String())
		for _, want := range []string{"tick  ", "*:*:0/2", "fail ", "exit-code", "jobs-worker-queue@"} {
			if !strings.Contains(list.String(), want) {
				t.Errorf("jobs lacks %q:\n%s", want, list.String())
			}
		}
		e.sh(t, "systemctl reset-failed jobs-job-fail.service")
	})

	t.Run("worker drill: 1000 items across 3 deploys, a rollback and a client killed mid-handover, each processed once", func(t *testing.T) {
		j3, j4 := jobsBinary(t, "j3-nofail", "10b00003"), jobsBinary(t, "j4", "10b00004")
		// Enqueued under way: 40 batches of 25, one every 0.7 s, during the deploys.
		var wg sync.WaitGroup
		wg.Add(1)
		stopped := make(chan struct{})
		go func() {
			defer wg.Done()
			for b := 0; b < 40; b++ {
				if _, err := sb.Run(context.Background(), "runuser", "-u", "postgres", "--", "psql", "-d", db, "-Atqc",
					fmt.Sprintf("INSERT INTO queue (id) SELECT g FROM generate_series(%d, %d) g", b*25+1, b*25+25)); err != nil {
					t.Errorf("enqueue: %v", err)
					return
				}
				select {
				case <-stopped:
				case <-time.After(700 * time.Millisecond):
				}
			}
		}()
		defer close(stopped)
		var logs bytes.Buffer
		deployOK(t, e.options(&logs, j3))
		if left := e.sh(t, "ls /etc/systemd/system/ | grep -c '^jobs-job-fail' || true"); left != "0" {
			t.Errorf("the removed job's units are still there: %s", left)
		}
		deployOK(t, e.options(&logs, j1))
		if st := e.sh(t, "systemctl is-enabled jobs-job-fail.timer || true"); st != "enabled" {
			t.Errorf("the job back in the code has its timer %q", st)
		}
		// The third deploy's client dies while the server hands over.
		c := startProcess(t, e, clientEnv, clientSpec{Alias: e.sb.Alias, SSHConfig: e.sb.ConfigPath, DeployPath: e.svc.DeployPath,
			Listen: e.svc.ListenAddr, Binary: j4, AppName: e.svc.AppName})
		c.waitStep(t, "handover")
		c.waitServer(t, "systemctl list-units --plain --no-legend --state=active,activating '"+e.svc.HandoverUnit()+"' | wc -l", "1")
		c.kill(t)
		e.settle(t, time.Minute)
		if cur := e.current(t); !strings.HasSuffix(cur, e.releaseOf(t, j4)) {
			t.Errorf("after the killed client the server finished on its own: current %s", cur)
		}
		if err := Rollback(context.Background(), e.options(&logs, ""), ""); err != nil {
			t.Fatalf("rollback: %v\n%s", err, logs.String())
		}
		wg.Wait()
		e.waitFor(t, db, `SELECT count(*) FROM queue WHERE processed_at IS NOT NULL`, "1000", time.Minute)
		got := e.psql(t, db, `SELECT count(*), sum(times), max(times), (SELECT count(*) FROM attempts), (SELECT count(DISTINCT item) FROM attempts) FROM queue`)
		if got != "1000|1000|1|1000|1000" {
			t.Errorf("items|processings|max per item|attempts|items attempted = %s, want 1000|1000|1|1000|1000", got)
		}
		by := e.psql(t, db, `SELECT processed_by || ':' || count(*) FROM queue GROUP BY processed_by ORDER BY 1`)
		// A worker that drained logged its stop; one killed at the deadline did not.
		started := e.sh(t, "journalctl -q -t jobs-worker-queue --no-pager -o cat | grep -c 'worker started' || true")
		stoppedN := e.sh(t, "journalctl -q -t jobs-worker-queue --no-pager -o cat | grep -c 'worker stopped' || true")
		running := e.sh(t, "systemctl list-units --plain --no-legend --state=active 'jobs-worker-queue@*' | wc -l")
		s, _ := strconv.Atoi(started)
		st, _ := strconv.Atoi(stoppedN)
		r, _ := strconv.Atoi(running)
		if s-st != r || r != 2 {
			t.Errorf("worker processes: %d started, %d drained and stopped, %d running: want every stopped one drained and 2 running", s, st, r)
		}
		if strings.Contains(logs.String(), "killed at its drain deadline") {
			t.Errorf("a worker was killed at its drain deadline:\n%s", logs.String())
		}
		t.Logf("drill: %s (items|processings|max|attempts|attempted), by release %s; worker processes started %d, drained %d", got, strings.Fields(by), s, st)
	})
}
