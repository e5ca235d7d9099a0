package helper

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"
)

// HandoverArgs are the handover's: make Release live beside the live one
// and then instead of it.
type HandoverArgs struct {
	// Detached is the transient unit the switch runs in.
	Detached Detached `json:"detached"`
	// App is APP_NAME: units <app>@<instance>.service.
	App string `json:"app"`
	// DeployPath holds releases/, current, previous and deploy.log.
	DeployPath string `json:"deploy_path"`
	// Release is the release id to switch to (a folder in releases/).
	Release string `json:"release"`
	// Instance names the new instance when it is not Release itself: a
	// later generation of the live release (<release>.g<n>, env:set).
	Instance string `json:"instance,omitempty"`
	// Commit is what the new instance's STATUS= must report ("" skips it).
	Commit string `json:"commit,omitempty"`
	// ReadyTimeoutMS bounds the new instance's start; a hang is stopped.
	ReadyTimeoutMS int64 `json:"ready_timeout_ms"`
	// LogLine starts the deploy.log line appended with result= and
	// duration= ("" appends none); StartUnixNano is when the duration
	// began (the user's command).
	LogLine       string `json:"log_line,omitempty"`
	StartUnixNano int64  `json:"start_unix_nano,omitempty"`
	// ReceivedUnixNano is when the handover step began on the server, set
	// by the step itself: the switch's step offsets count from it.
	ReceivedUnixNano int64 `json:"received_unix_nano,omitempty"`
	// NewEnvFile, when set, is a new env file beside EnvFile: it replaces
	// EnvFile (a rename) just before the start and goes back on any
	// failure, so a server left alone after a failed change restarts with
	// the settings it had.
	NewEnvFile string `json:"new_env_file,omitempty"`
	EnvFile    string `json:"env_file,omitempty"`
	// Procs, when set, makes the job and worker units follow the release
	// once its instance is live (syncProcs); nil leaves them alone.
	Procs *ProcUnits `json:"procs,omitempty"`
}

// Check refuses arguments that would name another unit, folder or file.
func (a HandoverArgs) Check() error {
	if err := checkApp(a.App); err != nil {
		return err
	}
	if err := checkAbsPath("deploy path", a.DeployPath); err != nil {
		return err
	}
	if err := checkRelease("release", a.Release); err != nil {
		return err
	}
	if a.Instance != "" {
		if rel, _ := SplitInstance(a.Instance); !releaseRE.MatchString(a.Instance) || rel != a.Release {
			return fmt.Errorf("instance %q is not one of release %s", a.Instance, a.Release)
		}
	}
	if strings.ContainsAny(a.Commit, " \t\r\n") {
		return fmt.Errorf("commit %q: want one word", a.Commit)
	}
	if a.ReadyTimeoutMS <= 0 {
		return fmt.Errorf("ready timeout %dms: want above 0", a.ReadyTimeoutMS)
	}
	if strings.ContainsAny(a.LogLine, "\r\n") {
		return fmt.Errorf("log line holds a line break")
	}
	if a.NewEnvFile != "" {
		if err := checkAbsPath("env file", a.EnvFile); err != nil {
			return err
		}
		if err := checkAbsPath("new env file", a.NewEnvFile); err != nil {
			return err
		}
		if !sameDir(a.EnvFile, a.NewEnvFile) || a.EnvFile == a.NewEnvFile {
			return fmt.Errorf("new env file %s: want a file beside %s (a rename replaces it)", a.NewEnvFile, a.EnvFile)
		}
	}
	return nil
}

// SplitInstance is an instance name's release and generation: 0 for the
// release's own instance, n for <release>.g<n>.
func SplitInstance(name string) (string, int) {
	i := strings.LastIndex(name, ".g")
	if i < 0 {
		return name, 0
	}
	n := 0
	for _, c := range name[i+2:] {
		if c < '0' || c > '9' || n > 1e6 {
			return name, 0
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || name[i+2] == '0' {
		return name, 0
	}
	return name[:i], n
}

func init() {
	// The client's step: checks, then runs handover-switch detached and
	// relays its lines.
	Register("handover", true, func(ctx context.Context, e *Env, a HandoverArgs) error {
		if err := a.Check(); err != nil {
			return fmt.Errorf("handover: %w", err)
		}
		a.ReceivedUnixNano = e.Time().UnixNano()
		return Detach(ctx, e, a.Detached, "handover-switch", a)
	})
	Register("handover-switch", true, Handover)
}

// Handover switches the live release to a.Release, in the transient unit
// the handover step started (nothing in it depends on the client: a
// client killed at any point leaves a server that finishes, or undoes,
// the switch by itself within the ready timeout):
//
//  1. start <app>@<instance>.service beside the live instance; both accept
//     on the socket, but the new one takes no connection before it said
//     READY=1 (migrations applied, database answering, its readiness true)
//  2. not ready in time, exited, or STATUS= without the commit: stop it,
//     put the env file back, leave everything else as it was (the old
//     instance never stopped); its last journal lines go out as "log ..."
//  3. ready: current -> the new release, previous -> the release that
//     served until now (never one that failed, never current), each a
//     rename
//  4. stop the old instance (it drains), retire the old layout's single
//     app.service if there is one, stop any other instance: one is live;
//     enable and start <app>-current.service (the boot anchor)
//  5. append the deploy.log line
//
// Lines: "step ...", "why ...", "log ..." and a last "result ok",
// "result rolled-back kept=<release>" or "result failed ...".
func Handover(ctx context.Context, e *Env, a HandoverArgs) error {
	if err := a.Check(); err != nil {
		return fmt.Errorf("handover: %w", err)
	}
	s := newSwitcher(e, a.App, a.DeployPath)
	if a.ReceivedUnixNano > 0 {
		// The offsets count from when the client's call reached the
		// server (same clock), not from this unit's start: the client adds
		// them to when it called.
		s.h0 = time.Unix(0, a.ReceivedUnixNano)
	}
	sys := context.WithoutCancel(ctx)
	t0 := time.Unix(0, a.StartUnixNano)
	finish := func(outcome, detail string) {
		if a.LogLine != "" {
			d := e.Time().Sub(t0) / (100 * time.Millisecond)
			line := fmt.Sprintf("%s result=%s duration=%d.%ds", a.LogLine, outcome, d/10, d%10)
			if detail != "" {
				line += " " + detail
			}
			s.appendLog(line)
		}
		e.Result(outcome, detail)
	}
	if st, err := os.Stat(e.Path(a.DeployPath)); err != nil || !st.IsDir() {
		e.Result("failed", "no "+a.DeployPath)
		return ErrFailed
	}
	if !s.hasRelease(a.Release) {
		finish("failed", "reason=no_release_"+a.Release)
		return ErrFailed
	}
	inst := a.Instance
	if inst == "" {
		inst = a.Release
	}
	unit := s.instance(inst)
	cur := s.rel("current")
	// What serves now: the current release's instance, or the old layout's
	// single service (which runs current/app).
	old, oldrel := "", ""
	if u := s.liveOf(sys, cur, unit); cur != "" && u != "" {
		old, oldrel = u, cur
	} else if lexists(s.legacy()) && s.state(sys, a.App+".service", "ActiveState") == "active" {
		old, oldrel = a.App+".service", cur
	}
	swapped := false
	var st started
	st.unit = unit
	fail := func(why string, stop bool) error {
		e.Line("why", why)
		if stop {
			s.stopFailed(sys, &st)
		}
		if swapped {
			if err := os.Rename(e.Path(a.EnvFile+".was"), e.Path(a.EnvFile)); err == nil {
				s.step("%s restored: the settings before this change", a.EnvFile)
			}
		}
		if old != "" {
			kept := oldrel
			if kept == "" {
				kept = old
			}
			r := oldrel
			if r == "" {
				r = "?"
			}
			s.step("%s kept serving release %s; current and previous unchanged", old, r)
			finish("rolled-back", "kept="+kept)
		} else {
			s.step("nothing was serving before; current and previous unchanged")
			finish("failed", "")
		}
		return ErrFailed
	}
	if a.NewEnvFile != "" && s.state(sys, unit, "ActiveState") != "active" {
		// The previous file stays as .was (a hard link) until the new
		// instance is ready.
		envf, was := e.Path(a.EnvFile), e.Path(a.EnvFile+".was")
		os.Remove(was)
		if err := os.Link(envf, was); err != nil {
			return fail(fmt.Sprintf("could not put %s in place of %s: %v", a.NewEnvFile, a.EnvFile, err), false)
		}
		if err := os.Rename(e.Path(a.NewEnvFile), envf); err != nil {
			os.Remove(was)
			return fail(fmt.Sprintf("could not put %s in place of %s: %v", a.NewEnvFile, a.EnvFile, err), false)
		}
		swapped = true
		s.step("%s replaced by the new settings", a.EnvFile)
	}
	tmo := time.Duration(a.ReadyTimeoutMS) * time.Millisecond
	if s.state(sys, unit, "ActiveState") != "active" {
		beside := old
		if beside == "" {
			beside = "nothing"
		}
		s.step("starting %s beside %s, up to %s for READY=1 (migrations, database, readiness)", unit, beside, secs(tmo))
	}
	status, why := s.startReady(ctx, unit, tmo, a.Commit, &st)
	if why != "" {
		return fail(why, true)
	}
	s.stepMS("%s is ready: %s", unit, status)
	prevRel := ""
	if oldrel != a.Release {
		prevRel = oldrel
	}
	if prevRel == "" {
		// No release served before this one (or it is the same): keep
		// previous unless it names the new one.
		if p := s.rel("previous"); p != a.Release {
			prevRel = p
		}
	}
	if err := s.setLinks(a.Release, prevRel); err != nil {
		return fail(err.Error(), true)
	}
	shown := s.rel("previous")
	s.step("current -> releases/%s, previous -> %s", a.Release, shown)
	s.syncProcs(sys, a.Procs, a.Release, inst)
	if old != "" {
		s.step("stopping %s: it finishes its requests, the socket stays with %s", old, unit)
		_ = e.Sys.Stop(sys, old)
	}
	s.retireLegacy(sys)
	s.stopLeftovers(sys, unit)
	s.anchor(sys)
	if swapped {
		os.Remove(e.Path(a.EnvFile + ".was"))
	}
	finish("ok", "")
	return nil
}
