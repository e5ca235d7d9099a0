package helper

import (
	"context"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// AppArgs name an app (APP_NAME).
type AppArgs struct {
	App string `json:"app"`
}

// JobRunArgs are job-run's: the app and the job to run now.
type JobRunArgs struct {
	App  string `json:"app"`
	Name string `json:"name"`
}

func init() {
	Register("jobs-status", false, jobsStatus)
	Register("job-run", true, jobRun)
}

// systemdTime is how `systemctl show` prints a timestamp.
const systemdTime = "Mon 2006-01-02 15:04:05 MST"

// showTime reads a `systemctl show` timestamp; zero when empty or "n/a".
func showTime(s string) time.Time {
	t, err := time.Parse(systemdTime, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func unixOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return fmt.Sprint(t.Unix())
}

// jobsStatus is jobs-status: one line per job, "job <name>\t<schedule>\t
// <last start unix|->\t<last duration ms|->\t<result>\t<next unix|->\t
// <state>", then "worker <unit>\t<state>\t<pid>" per worker process.
func jobsStatus(ctx context.Context, e *Env, a AppArgs) error {
	if err := checkApp(a.App); err != nil {
		return err
	}
	for _, f := range unitFiles(e, a.App+"-job-*.timer") {
		name, own := ownJobFile(e, a.App, f)
		if !own {
			continue
		}
		b, _ := os.ReadFile(e.Path(path.Join(UnitDir, f)))
		cal := "?"
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "OnCalendar="); ok {
				cal = v
			}
		}
		t, _ := e.Sys.Show(ctx, f, "NextElapseUSecRealtime")
		svc, _ := e.Sys.Show(ctx, JobUnit(a.App, name), "ExecMainStartTimestamp", "ExecMainStartTimestampMonotonic", "ExecMainExitTimestampMonotonic", "Result", "ActiveState", "SubState")
		start := showTime(svc["ExecMainStartTimestamp"])
		// The monotonic clock's microseconds: the wall clock shows seconds only.
		dur := "-"
		s0, err0 := strconv.ParseInt(svc["ExecMainStartTimestampMonotonic"], 10, 64)
		s1, err1 := strconv.ParseInt(svc["ExecMainExitTimestampMonotonic"], 10, 64)
		if err0 == nil && err1 == nil && s0 > 0 && s1 >= s0 {
			dur = fmt.Sprint((s1 - s0) / 1000)
		}
		result := svc["Result"]
		if start.IsZero() {
			result = "never"
		}
		e.Line("job", strings.Join([]string{name, cal, unixOrDash(start), dur, result, unixOrDash(showTime(t["NextElapseUSecRealtime"])), svc["ActiveState"] + "/" + svc["SubState"]}, "\t"))
	}
	units, _ := e.Sys.List(ctx, a.App+"-worker-*@*.service")
	for _, u := range units {
		if _, own := ownWorker(e, a.App, u); !own {
			continue
		}
		p, _ := e.Sys.Show(ctx, u, "ActiveState", "SubState", "MainPID")
		if p["ActiveState"] == "inactive" {
			continue
		}
		e.Line("worker", u+"\t"+p["ActiveState"]+"/"+p["SubState"]+"\t"+p["MainPID"])
	}
	e.Result("ok", "")
	return nil
}

// jobRun is job-run: starts the job's service now (as its timer would:
// same unit, same lock), or follows the run already going, and relays its
// journal lines as "log ..." until it ends; "result ok" or "result failed
// <Result>".
func jobRun(ctx context.Context, e *Env, a JobRunArgs) error {
	if err := checkApp(a.App); err != nil {
		return err
	}
	if !procNameRE.MatchString(a.Name) {
		return fmt.Errorf("job %q: want lower-case letters, digits and -", a.Name)
	}
	unit := JobUnit(a.App, a.Name)
	if _, err := os.Stat(e.Path(path.Join(UnitDir, unit))); err != nil {
		return fmt.Errorf("%s has no job %q (no %s): `go run mage.go jobs` lists them", a.App, a.Name, unit)
	}
	p, err := e.Sys.Show(ctx, unit, "ActiveState", "InvocationID")
	if err != nil {
		return err
	}
	before := p["InvocationID"]
	if p["ActiveState"] == "active" || p["ActiveState"] == "activating" {
		e.Line("step", unit+" is already running (its timer started it): following that run")
		before = ""
	} else {
		_ = e.Sys.ResetFailed(ctx, unit)
		if err := e.Sys.Start(ctx, unit, false); err != nil {
			return err
		}
		e.Line("step", "started "+unit)
	}
	printed := 0
	inv := ""
	t := time.NewTicker(FollowPoll)
	defer t.Stop()
	for {
		p, err := e.Sys.Show(ctx, unit, "ActiveState", "SubState", "InvocationID", "Result")
		if err != nil {
			return err
		}
		if p["InvocationID"] != before && p["InvocationID"] != "" {
			inv = p["InvocationID"]
		}
		if inv != "" {
			lines, _ := e.Sys.Journal(ctx, []string{"_SYSTEMD_INVOCATION_ID=" + inv}, 10000, time.Time{})
			for ; printed < len(lines); printed++ {
				e.Line("log", lines[printed])
			}
		}
		done := inv != "" && (p["ActiveState"] == "inactive" || p["ActiveState"] == "failed")
		if done {
			// journald may lag the exit by a moment: one last read.
			time.Sleep(300 * time.Millisecond)
			lines, _ := e.Sys.Journal(ctx, []string{"_SYSTEMD_INVOCATION_ID=" + inv}, 10000, time.Time{})
			for ; printed < len(lines); printed++ {
				e.Line("log", lines[printed])
			}
			if p["Result"] == "success" {
				e.Result("ok", "")
				return nil
			}
			e.Result("failed", "result="+p["Result"])
			return ErrFailed
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
