package helper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Jobs and workers (issue 31). A release's jobs and workers are what its
// binary answers to `app jobs -json`, asked once at install (release-install,
// release-procs) and kept beside it as releases/<id>/app.jobs. Every switch
// (the handover of a deploy, env:set or a rollback) makes the server's units
// follow the release it switches to (syncProcs):
//
//   - a job is <app>-job-<name>.timer and .service: the service runs
//     <current link>/app job <name> as the service user, with its env file
//     and sandboxing; the timer starts it on the job's schedule. A timer
//     never starts a service that is still active, so a run never overlaps
//     the job's previous one, not even across a switch (a run started by the
//     old release finishes on the old binary; the next one is the new
//     release's). A job the release lacks loses its units.
//   - a worker is <app>-worker-<name>@<instance>.<i>.service, i = 1..N,
//     <instance> the web instance's name (the release id, or <release>.g<n>
//     after env:set): the new ones start once the new web instance is ready,
//     then the old ones get SIGTERM and TimeoutStopSec to drain.

// ProcsFile is the file beside a release's app holding its `app jobs -json`.
const ProcsFile = "app.jobs"

// Procs is a release's jobs and workers, as `app jobs -json` prints them.
type Procs struct {
	Jobs    []JobSpec    `json:"jobs"`
	Workers []WorkerSpec `json:"workers"`
}

// JobSpec is one job of a release.
type JobSpec struct {
	Name        string `json:"name"`
	Schedule    string `json:"schedule"`
	TimeZone    string `json:"time_zone,omitempty"`
	DeadlineSec int64  `json:"deadline_sec"`
}

// WorkerSpec is one worker of a release.
type WorkerSpec struct {
	Name      string `json:"name"`
	Instances int    `json:"instances"`
}

var (
	procNameRE  = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)
	scheduleRE  = regexp.MustCompile(`^[A-Za-z0-9 *:,./~+_-]{1,120}$`)
	tzRE        = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+/-]{0,60}$`)
	propRE      = regexp.MustCompile(`^[A-Z][A-Za-z]+=[^\n\r]*$`)
	memoryMaxRE = regexp.MustCompile(`^[1-9][0-9]{0,6}[KMGT]$`)
)

// check refuses what could not go into a unit file as it is.
func (p Procs) check() error {
	for _, j := range p.Jobs {
		if !procNameRE.MatchString(j.Name) || !scheduleRE.MatchString(j.Schedule) || (j.TimeZone != "" && !tzRE.MatchString(j.TimeZone)) || j.DeadlineSec < 1 {
			return fmt.Errorf("job %q (schedule %q, time zone %q, deadline %ds) cannot go into a unit", j.Name, j.Schedule, j.TimeZone, j.DeadlineSec)
		}
	}
	for _, w := range p.Workers {
		if !procNameRE.MatchString(w.Name) || w.Instances < 1 || w.Instances > 32 {
			return fmt.Errorf("worker %q (%d instances) cannot go into a unit", w.Name, w.Instances)
		}
	}
	return nil
}

// calendar is the OnCalendar value of a job.
func (j JobSpec) calendar() string {
	if j.TimeZone != "" {
		return j.Schedule + " " + j.TimeZone
	}
	return j.Schedule
}

// ProcUnits is what the job and worker units share with the web
// instances: the client's service settings (internal/service renders the
// same for app@.service), sent with each switch.
type ProcUnits struct {
	User        string `json:"user"`
	EnvFile     string `json:"env_file"`
	CurrentLink string `json:"current_link"`
	ReleasesDir string `json:"releases_dir"`
	MemoryMax   string `json:"memory_max"`
	// StopTimeoutSec is the workers' drain deadline (TimeoutStopSec).
	StopTimeoutSec int64 `json:"stop_timeout_sec"`
	// Hardening is service.Hardening's properties, Key=Value.
	Hardening []string `json:"hardening"`
	// CurrentBind makes the current link visible to a job (service.CurrentBind).
	CurrentBind string `json:"current_bind"`
	// OnFailure is the units' OnFailure= (the notify template), "" none.
	OnFailure string `json:"on_failure,omitempty"`
}

func (u ProcUnits) check() error {
	if !appRE.MatchString(u.User) || u.User == "root" {
		return fmt.Errorf("service user %q: want an unprivileged user name", u.User)
	}
	for what, p := range map[string]string{"env file": u.EnvFile, "current link": u.CurrentLink, "releases dir": u.ReleasesDir} {
		if err := checkAbsPath(what, p); err != nil {
			return err
		}
	}
	if !memoryMaxRE.MatchString(u.MemoryMax) || u.StopTimeoutSec < 1 {
		return fmt.Errorf("memory max %q, stop timeout %ds: want e.g. 512M and at least 1s", u.MemoryMax, u.StopTimeoutSec)
	}
	for _, p := range append(append([]string{}, u.Hardening...), u.CurrentBind) {
		if !propRE.MatchString(p) {
			return fmt.Errorf("unit property %q: want Key=Value on one line", p)
		}
	}
	if u.OnFailure != "" && !unitName.MatchString(strings.ReplaceAll(u.OnFailure, "%n", "x")) {
		return fmt.Errorf("OnFailure %q: want a unit name", u.OnFailure)
	}
	return nil
}

// JobUnit is a job's service, e.g. app-job-prune.service; its timer has
// the same name with .timer.
func JobUnit(app, name string) string { return app + "-job-" + name + ".service" }

// JobTimer is a job's timer, e.g. app-job-prune.timer.
func JobTimer(app, name string) string { return app + "-job-" + name + ".timer" }

// WorkerTemplate is a worker's template unit, e.g. app-worker-mailer@.service.
func WorkerTemplate(app, name string) string { return app + "-worker-" + name + "@.service" }

// WorkerUnit is one worker process of one web instance, e.g.
// app-worker-mailer@20260102T030405Z-0123456789ab.1.service.
func WorkerUnit(app, name, instance string, i int) string {
	return app + "-worker-" + name + "@" + instance + "." + strconv.Itoa(i) + ".service"
}

// appSlice is the slice of the app's web instances (<app>@.service's,
// systemd's name for it: a - escaped): jobs and workers join it, so `logs`
// (which reads the slice) shows them beside the web process.
func appSlice(app string) string {
	return "system-" + strings.ReplaceAll(app, "-", `\x2d`) + ".slice"
}

// jobService renders a job's service unit.
func jobService(app string, u ProcUnits, j JobSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: generated by slipway-helper at each switch (internal/helper/jobs.go); edits are overwritten.\n", JobUnit(app, j.Name))
	fmt.Fprintf(&b, "# One run of job %s, started by %s: the current release's `app job %s`.\n", j.Name, JobTimer(app, j.Name), j.Name)
	b.WriteString("[Unit]\n")
	fmt.Fprintf(&b, "Description=%s job %s\n", app, j.Name)
	b.WriteString("After=network-online.target postgresql.service\nWants=network-online.target\n")
	// The timer is the rate: systemd's default start limit (5 in 10 s)
	// would fail a job scheduled every 2 s the moment job:run adds a run.
	b.WriteString("StartLimitIntervalSec=0\n")
	if u.OnFailure != "" {
		fmt.Fprintf(&b, "OnFailure=%s\n", u.OnFailure)
	}
	b.WriteString("\n[Service]\n")
	// exec: active for the whole run, so the timer never starts it again
	// before it ends (oneshot would ignore RuntimeMaxSec=).
	b.WriteString("Type=exec\n")
	// current/app resolves when the run starts (CurrentBind binds the
	// release it names then): a run keeps its release across a switch.
	fmt.Fprintf(&b, "ExecStart=%s job %s\n", path.Join(u.CurrentLink, "app"), j.Name)
	fmt.Fprintf(&b, "User=%s\nGroup=%s\nEnvironmentFile=%s\n", u.User, u.User, u.EnvFile)
	fmt.Fprintf(&b, "SyslogIdentifier=%s-job-%s\n", app, j.Name)
	fmt.Fprintf(&b, "Slice=%s\n", appSlice(app))
	// The app cancels the run's context at the deadline; systemd stops
	// what is left a little later.
	fmt.Fprintf(&b, "RuntimeMaxSec=%d\nTimeoutStopSec=30s\n", j.DeadlineSec+15)
	fmt.Fprintf(&b, "MemoryMax=%s\n", u.MemoryMax)
	for _, p := range u.Hardening {
		b.WriteString(p + "\n")
	}
	b.WriteString(u.CurrentBind + "\n")
	return b.String()
}

// jobTimer renders a job's timer.
func jobTimer(app string, j JobSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: generated by slipway-helper at each switch (internal/helper/jobs.go); edits are overwritten.\n", JobTimer(app, j.Name))
	b.WriteString("[Unit]\n")
	fmt.Fprintf(&b, "Description=%s job %s on its schedule\n\n[Timer]\n", app, j.Name)
	fmt.Fprintf(&b, "OnCalendar=%s\n", j.calendar())
	// A run missed while the server was off runs once at boot.
	b.WriteString("Persistent=yes\n")
	// systemd's default (1min) would move a run by up to a minute.
	b.WriteString("AccuracySec=1s\n")
	fmt.Fprintf(&b, "Unit=%s\n\n[Install]\nWantedBy=timers.target\n", JobUnit(app, j.Name))
	return b.String()
}

// workerTemplate renders a worker's template unit.
func workerTemplate(app, self string, u ProcUnits, w WorkerSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: generated by slipway-helper at each switch (internal/helper/jobs.go); edits are overwritten.\n", WorkerTemplate(app, w.Name))
	fmt.Fprintf(&b, "# %%i is <web instance>.<n>: worker %s of that instance's release, process n.\n", w.Name)
	b.WriteString("[Unit]\n")
	fmt.Fprintf(&b, "Description=%s worker %s, %%i\n", app, w.Name)
	b.WriteString("After=network-online.target postgresql.service\nWants=network-online.target\n")
	b.WriteString("StartLimitIntervalSec=60\nStartLimitBurst=10\n")
	if u.OnFailure != "" {
		fmt.Fprintf(&b, "OnFailure=%s\n", u.OnFailure)
	}
	b.WriteString("\n[Service]\nType=exec\n")
	fmt.Fprintf(&b, "ExecStart=%s worker-release %s %s %%i\n", self, u.ReleasesDir, w.Name)
	fmt.Fprintf(&b, "User=%s\nGroup=%s\nEnvironmentFile=%s\n", u.User, u.User, u.EnvFile)
	fmt.Fprintf(&b, "SyslogIdentifier=%s-worker-%s\n", app, w.Name)
	fmt.Fprintf(&b, "Slice=%s\n", appSlice(app))
	b.WriteString("Restart=on-failure\nRestartSec=1s\n")
	// SIGTERM, then this long to drain before SIGKILL.
	fmt.Fprintf(&b, "TimeoutStopSec=%ds\n", u.StopTimeoutSec)
	fmt.Fprintf(&b, "MemoryMax=%s\n", u.MemoryMax)
	for _, p := range u.Hardening {
		b.WriteString(p + "\n")
	}
	return b.String()
}

func init() {
	unitCommands["worker-release"] = workerRelease
	Register("release-procs", false, releaseProcsStep)
}

// workerRelease is a worker unit's ExecStart: `worker-release <releases
// dir> <worker> <web instance>.<n>`; the release's app replaces the helper
// as `app worker <worker>`, SLIPWAY_RELEASE set.
func workerRelease(_ context.Context, e *Env, args []string) error {
	if len(args) != 3 || !path.IsAbs(args[0]) || path.Clean(args[0]) != args[0] || !procNameRE.MatchString(args[1]) {
		return errors.New("usage: slipway-helper worker-release <releases dir> <worker> <instance>.<n>")
	}
	i := strings.LastIndex(args[2], ".")
	n, err := strconv.Atoi(args[2][i+1:])
	if i < 0 || err != nil || n < 1 {
		return fmt.Errorf("worker instance %q: want <web instance>.<n>", args[2])
	}
	rel := ReleaseOfInstance(args[2][:i])
	if !releaseIDRE.MatchString(rel) || strings.HasPrefix(rel, ".") {
		return fmt.Errorf("worker instance %q names no release", args[2])
	}
	bin := path.Join(args[0], rel, "app")
	argv := []string{bin, "worker", args[1]}
	env := append(withoutVar(os.Environ(), "SLIPWAY_RELEASE"), "SLIPWAY_RELEASE="+rel)
	if e.exec != nil {
		return e.exec(e.Path(bin), argv, env)
	}
	return syscall.Exec(bin, argv, env)
}

// describeRelease asks a release's binary (bin, not yet in place: dir is
// where its files go) for its jobs and workers and writes them to
// dir/app.jobs. A binary older than jobs (`unknown command "jobs"`), not
// built on package app or not answering within 10 s has none. A bad job or
// schedule is an error in the app's own words: the release never goes
// live.
func describeRelease(ctx context.Context, bin, dir string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "jobs", "-json")
	// Nothing of the caller's: `jobs` needs no setting.
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LOG_FORMAT=text"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var p Procs
	switch {
	case err != nil && strings.Contains(stderr.String(), "app.Config."):
		// The runtime's check of Config.Jobs and Config.Workers: its line.
		return fmt.Errorf("`app jobs -json`: %s", oneLine(strings.TrimSpace(stderr.String())))
	case err != nil, json.Unmarshal(out, &p) != nil:
		// A binary older than jobs (`unknown command "jobs"`), or not
		// built on package app: it has none.
		p = Procs{}
	}
	if p.Jobs == nil {
		p.Jobs = []JobSpec{}
	}
	if p.Workers == nil {
		p.Workers = []WorkerSpec{}
	}
	if err := p.check(); err != nil {
		return err
	}
	for _, j := range p.Jobs {
		// systemd's own parser: what the timer will read.
		if out, err := exec.CommandContext(ctx, "systemd-analyze", "calendar", "--", j.calendar()).CombinedOutput(); err != nil {
			if _, lookErr := exec.LookPath("systemd-analyze"); lookErr != nil {
				break
			}
			return fmt.Errorf("job %s: schedule %q is not valid for systemd (%s): fix app.Job.Schedule (systemd.time(7))", j.Name, j.calendar(), oneLine(strings.TrimSpace(string(out))))
		}
	}
	b, _ := json.Marshal(p)
	return os.WriteFile(filepath.Join(dir, ProcsFile), append(b, '\n'), 0o666)
}

// releaseProcsStep is release-procs: writes app.jobs of a release installed
// before releases had one (deploy reuses a release of the same binary).
func releaseProcsStep(ctx context.Context, e *Env, a ReleaseArgs) error {
	if err := checkDeployPath(a.DeployPath); err != nil {
		return err
	}
	if err := checkReleaseID(a.ID); err != nil {
		return err
	}
	dir := e.Path(a.DeployPath + "/releases/" + a.ID)
	if _, err := os.Stat(filepath.Join(dir, ProcsFile)); err == nil {
		e.Result("ok", "unchanged")
		return nil
	}
	if err := describeRelease(ctx, filepath.Join(dir, "app"), dir); err != nil {
		return err
	}
	e.Result("ok", "written")
	return nil
}

// readProcs reads a release's app.jobs; ok false when it has none.
func readProcs(e *Env, releasesDir, release string) (Procs, bool, error) {
	b, err := os.ReadFile(e.Path(path.Join(releasesDir, release, ProcsFile)))
	if errors.Is(err, fs.ErrNotExist) {
		return Procs{}, false, nil
	}
	if err != nil {
		return Procs{}, false, err
	}
	var p Procs
	if err := json.Unmarshal(b, &p); err != nil {
		return Procs{}, false, fmt.Errorf("%s of release %s: %w", ProcsFile, release, err)
	}
	return p, true, p.check()
}

// writeUnit writes a unit file (root's, 0644) by a rename; false when it
// already held content.
func writeUnit(e *Env, name, content string) (bool, error) {
	p := e.Path(path.Join(UnitDir, name))
	if old, err := os.ReadFile(p); err == nil && string(old) == content {
		return false, nil
	}
	tmp := p + ".slipway-new"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return false, err
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return false, err
	}
	return true, os.Rename(tmp, p)
}

// ownJobFile reports whether f (a file name in UnitDir) is a job unit of
// app written by syncProcs: a glob such as app-job-* also matches the units
// of another app named app-job-x, which must never be touched.
func ownJobFile(e *Env, app, f string) (string, bool) {
	name, ok := strings.CutPrefix(f, app+"-job-")
	if !ok {
		return "", false
	}
	name, ok = strings.CutSuffix(name, ".service")
	if !ok {
		name, ok = strings.CutSuffix(strings.TrimPrefix(f, app+"-job-"), ".timer")
	}
	if !ok || !procNameRE.MatchString(name) {
		return "", false
	}
	b, err := os.ReadFile(e.Path(path.Join(UnitDir, f)))
	return name, err == nil && strings.Contains(string(b), "\nDescription="+app+" job "+name)
}

// ownWorker reports whether u, a unit name or a template file name, is a
// worker of app (its template written by syncProcs), and which worker.
func ownWorker(e *Env, app, u string) (string, bool) {
	rest, ok := strings.CutPrefix(u, app+"-worker-")
	name, _, found := strings.Cut(rest, "@")
	if !ok || !found || !procNameRE.MatchString(name) {
		return "", false
	}
	b, err := os.ReadFile(e.Path(path.Join(UnitDir, WorkerTemplate(app, name))))
	return name, err == nil && strings.Contains(string(b), "\nDescription="+app+" worker "+name+",")
}

// unitFiles lists the unit files in UnitDir whose name matches pattern.
func unitFiles(e *Env, pattern string) []string {
	m, _ := filepath.Glob(e.Path(path.Join(UnitDir, pattern)))
	names := make([]string, 0, len(m))
	for _, f := range m {
		names = append(names, filepath.Base(f))
	}
	sort.Strings(names)
	return names
}

// syncProcs makes the job and worker units follow the release instance
// inst (of release rel) that just became live: see the top of this file.
// Failures are step lines, never a failed switch: the web release is live.
func (s *switcher) syncProcs(ctx context.Context, u *ProcUnits, rel, inst string) {
	if u == nil {
		return
	}
	e := s.e
	p, ok, err := readProcs(e, u.ReleasesDir, rel)
	if err != nil {
		s.step("jobs and workers left as they were: %v", err)
		return
	}
	if !ok {
		s.step("release %s has no %s (installed before jobs): jobs and workers left as they were", rel, ProcsFile)
		return
	}
	if err := u.check(); err != nil {
		s.step("jobs and workers left as they were: %v", err)
		return
	}
	// Jobs: units written, obsolete ones removed, then one reload.
	want := map[string]bool{}
	var restart []string
	for _, j := range p.Jobs {
		svc, tmr := JobUnit(s.app, j.Name), JobTimer(s.app, j.Name)
		want[svc], want[tmr] = true, true
		if _, err := writeUnit(e, svc, jobService(s.app, *u, j)); err != nil {
			s.step("writing %s failed: %v", svc, err)
		}
		changed, err := writeUnit(e, tmr, jobTimer(s.app, j))
		if err != nil {
			s.step("writing %s failed: %v", tmr, err)
		}
		if changed {
			restart = append(restart, tmr)
		}
	}
	var gone []string
	for _, f := range unitFiles(e, s.app+"-job-*") {
		if _, own := ownJobFile(e, s.app, f); own && !want[f] {
			gone = append(gone, f)
		}
	}
	for _, f := range gone {
		if strings.HasSuffix(f, ".timer") {
			_ = e.Sys.Disable(ctx, f)
			_ = e.Sys.Stop(ctx, f)
			s.step("removed %s: release %s has no such job", f, rel)
		}
		// A run still going finishes; only its file goes.
		os.Remove(e.Path(path.Join(UnitDir, f)))
	}
	workers := map[string]bool{}
	for _, w := range p.Workers {
		workers[WorkerTemplate(s.app, w.Name)] = true
		if _, err := writeUnit(e, WorkerTemplate(s.app, w.Name), workerTemplate(s.app, e.Self, *u, w)); err != nil {
			s.step("writing %s failed: %v", WorkerTemplate(s.app, w.Name), err)
		}
	}
	_ = e.Sys.DaemonReload(ctx)
	for _, j := range p.Jobs {
		tmr := JobTimer(s.app, j.Name)
		_ = e.Sys.Enable(ctx, tmr)
		if contains(restart, tmr) {
			// A new schedule counts from now.
			_ = e.Sys.Restart(ctx, tmr)
		} else if err := e.Sys.Start(ctx, tmr, true); err != nil {
			s.step("starting %s failed: %v", tmr, err)
		}
	}
	if len(p.Jobs) > 0 {
		names := make([]string, len(p.Jobs))
		for i, j := range p.Jobs {
			names[i] = j.Name + " (" + j.calendar() + ")"
		}
		s.step("job timers: %s", strings.Join(names, ", "))
	}
	// Workers: the new instance's start, then the others drain.
	keep := map[string]bool{}
	for _, w := range p.Workers {
		for i := 1; i <= w.Instances; i++ {
			unit := WorkerUnit(s.app, w.Name, inst, i)
			keep[unit] = true
			_ = e.Sys.ResetFailed(ctx, unit)
			if err := e.Sys.Start(ctx, unit, true); err != nil {
				s.step("starting %s failed: %v", unit, err)
			}
		}
	}
	if len(keep) > 0 {
		s.step("started %d worker process(es) of %s", len(keep), inst)
	}
	s.stopWorkers(ctx, keep)
	// Templates of workers the release lacks go once nothing runs them.
	for _, f := range unitFiles(e, s.app+"-worker-*@.service") {
		if _, own := ownWorker(e, s.app, f); own && !workers[f] {
			os.Remove(e.Path(path.Join(UnitDir, f)))
			s.step("removed %s: release %s has no such worker", f, rel)
		}
	}
	_ = e.Sys.DaemonReload(ctx)
}

// stopWorkers stops every worker process but keep's, all at once: each
// gets SIGTERM and its TimeoutStopSec to drain. One killed at that
// deadline is said in a step line.
func (s *switcher) stopWorkers(ctx context.Context, keep map[string]bool) {
	units, _ := s.e.Sys.List(ctx, s.app+"-worker-*@*.service")
	var stop []string
	for _, u := range units {
		if _, own := ownWorker(s.e, s.app, u); !own {
			continue // another app's, e.g. app-worker-x@<release>.service
		}
		if !keep[u] && s.state(ctx, u, "ActiveState") != "inactive" {
			stop = append(stop, u)
		}
	}
	if len(stop) == 0 {
		return
	}
	s.step("stopping %d old worker process(es): they drain", len(stop))
	var wg sync.WaitGroup
	for _, u := range stop {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.e.Sys.Stop(ctx, u)
		}()
	}
	wg.Wait()
	killed := 0
	for _, u := range stop {
		if r := s.state(ctx, u, "Result"); r == "timeout" {
			killed++
			s.step("%s was killed at its drain deadline", u)
		}
		_ = s.e.Sys.ResetFailed(ctx, u)
	}
	s.step("old workers stopped: %d drained, %d killed at the deadline", len(stop)-killed, killed)
}
