package helper

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// server is a fake server for the switch: a deploy path with releases, the
// links, and a fake systemd whose live instance runs current's release.
type server struct {
	t    *testing.T
	root string
	dp   string
	sys  *FakeSystemd
	out  bytes.Buffer
	e    *Env
}

const testDP = "/home/admin"

func newServer(t *testing.T, releases ...string) *server {
	t.Helper()
	s := &server{t: t, root: t.TempDir(), dp: testDP, sys: NewFakeSystemd()}
	s.e = &Env{Root: s.root, Sys: s.sys, Out: &s.out}
	for _, r := range releases {
		dir := s.file("releases/" + r)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir+"/app", []byte("#!/bin/true\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s *server) file(name string) string { return s.root + s.dp + "/" + name }

func (s *server) link(name, rel string) {
	s.t.Helper()
	if err := os.Symlink("releases/"+rel, s.file(name)); err != nil {
		s.t.Fatal(err)
	}
}

// target is the release a link names, "" without the link.
func (s *server) target(name string) string {
	r, err := os.Readlink(s.file(name))
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(r, "releases/")
}

// live makes release's instance run, ready, reporting commit c-<release>.
func (s *server) live(unit, release string) {
	s.sys.Set(unit, "ActiveState", "active", "SubState", "running", "StatusText", "version=v commit=c-"+release)
}

// ready makes every started instance ready with its release's commit.
func ready(f *FakeSystemd, unit string) {
	rel, _ := SplitInstance(strings.TrimSuffix(strings.TrimPrefix(unit, "app@"), ".service"))
	f.Set(unit, "ActiveState", "active", "SubState", "running", "StatusText", "version=v commit=c-"+rel)
}

// journal gives the started unit's invocation a journal line, as
// journald would.
func journal(f *FakeSystemd, unit string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.JournalLines["_SYSTEMD_INVOCATION_ID="+f.Units[unit]["InvocationID"]] = []string{unit + " says goodbye"}
}

// fails makes every started instance fail at once.
func fails(f *FakeSystemd, unit string) {
	journal(f, unit)
	f.Set(unit, "ActiveState", "failed", "SubState", "failed")
}

func (s *server) args(release string) HandoverArgs {
	return HandoverArgs{App: "app", DeployPath: s.dp, Release: release, Commit: "c-" + release, ReadyTimeoutMS: 2000}
}

// handover runs the switch and returns its outcome (the result line's word).
func (s *server) handover(a HandoverArgs) string {
	s.t.Helper()
	s.out.Reset()
	err := Handover(context.Background(), s.e, a)
	out := s.out.String()
	s.t.Logf("handover to %s:\n%s", a.Release, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	outcome, _, _ := strings.Cut(strings.TrimPrefix(last, "result "), " ")
	if !strings.HasPrefix(last, "result ") {
		s.t.Fatalf("the last line is not a result: %q", last)
	}
	if (outcome == "ok") != (err == nil) {
		s.t.Fatalf("outcome %s, error %v", outcome, err)
	}
	return outcome
}

func (s *server) wasCalled(call string) bool { return slices.Contains(s.sys.Called(), call) }

func TestHandoverSwitchesCurrentAndPreviousOnceTheNewInstanceIsReady(t *testing.T) {
	s := newServer(t, "r1", "r2")
	s.link("current", "r1")
	s.live("app@r1.service", "r1")
	s.sys.OnStart = ready
	if got := s.handover(s.args("r2")); got != "ok" {
		t.Fatalf("outcome %s", got)
	}
	if s.target("current") != "r2" || s.target("previous") != "r1" {
		t.Errorf("current %s previous %s, want r2 r1", s.target("current"), s.target("previous"))
	}
	if s.sys.State("app@r1.service") != "inactive/dead" || s.sys.State("app@r2.service") != "active/running" {
		t.Errorf("r1 %s, r2 %s: want the old stopped, the new running", s.sys.State("app@r1.service"), s.sys.State("app@r2.service"))
	}
	if !s.wasCalled("enable app-current.service") || !s.wasCalled("start app-current.service") {
		t.Errorf("the boot anchor was not enabled and started: %v", s.sys.Called())
	}
	// The new instance starts before the old one stops: no moment without one.
	calls := s.sys.Called()
	if slices.Index(calls, "start app@r2.service") > slices.Index(calls, "stop app@r1.service") {
		t.Errorf("old stopped before the new started: %v", calls)
	}
}

func TestHandoverRollsBackWhenTheNewInstanceExits(t *testing.T) {
	s := newServer(t, "r1", "r2")
	s.link("current", "r1")
	s.link("previous", "r2")
	s.live("app@r1.service", "r1")
	s.sys.OnStart = func(f *FakeSystemd, unit string) {
		f.Set(unit, "ActiveState", "failed", "SubState", "failed")
		f.JournalLines["_SYSTEMD_INVOCATION_ID="+f.Units[unit]["InvocationID"]] = []string{`{"msg":"migration failed"}`}
	}
	if got := s.handover(s.args("r2")); got != "rolled-back" {
		t.Fatalf("outcome %s", got)
	}
	out := s.out.String()
	if !strings.Contains(out, "result rolled-back kept=r1\n") || !strings.Contains(out, "why app@r2.service ended before it was ready (failed/failed)") ||
		!strings.Contains(out, "log {\"msg\":\"migration failed\"}\n") {
		t.Errorf("want the reason, the instance's journal line and kept=r1")
	}
	if s.target("current") != "r1" || s.target("previous") != "r2" {
		t.Errorf("links changed: current %s previous %s", s.target("current"), s.target("previous"))
	}
	if s.sys.State("app@r1.service") != "active/running" || !s.wasCalled("stop app@r2.service") {
		t.Errorf("want r1 kept running and r2 stopped: %v", s.sys.Called())
	}
}

func TestHandoverStopsAnInstanceThatNeverGetsReady(t *testing.T) {
	s := newServer(t, "r1", "r2")
	s.link("current", "r1")
	s.live("app@r1.service", "r1")
	s.sys.OnStart = journal // activating/start for ever
	a := s.args("r2")
	a.ReadyTimeoutMS = 300
	start := time.Now()
	if got := s.handover(a); got != "rolled-back" {
		t.Fatalf("outcome %s", got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s for a 300ms ready timeout", d)
	}
	if !strings.Contains(s.out.String(), "not ready within 1s (activating/start): stopped") || s.sys.State("app@r2.service") != "inactive/dead" {
		t.Errorf("want the hung instance stopped, its state said")
	}
	if s.target("current") != "r1" {
		t.Errorf("current %s", s.target("current"))
	}
}

func TestHandoverRefusesAnInstanceReportingAnotherCommit(t *testing.T) {
	s := newServer(t, "r1", "r2")
	s.link("current", "r1")
	s.live("app@r1.service", "r1")
	s.sys.OnStart = func(f *FakeSystemd, unit string) {
		journal(f, unit)
		f.Set(unit, "ActiveState", "active", "SubState", "running", "StatusText", "version=v commit=stale")
	}
	if got := s.handover(s.args("r2")); got != "rolled-back" {
		t.Fatalf("outcome %s", got)
	}
	if !strings.Contains(s.out.String(), `reports "version=v commit=stale", want commit=c-r2`) || s.sys.State("app@r2.service") != "inactive/dead" {
		t.Errorf("want the wrong commit named and the instance stopped")
	}
	if s.target("current") != "r1" {
		t.Errorf("current %s", s.target("current"))
	}
}

func TestHandoverWithNothingServingFailsAndChangesNothing(t *testing.T) {
	s := newServer(t, "r1")
	s.sys.OnStart = fails
	if got := s.handover(s.args("r1")); got != "failed" {
		t.Fatalf("outcome %s", got)
	}
	if s.target("current") != "" || !strings.Contains(s.out.String(), "nothing was serving before") {
		t.Errorf("current %q", s.target("current"))
	}
}

func TestHandoverOfAMissingReleaseFailsBeforeStartingAnything(t *testing.T) {
	s := newServer(t, "r1")
	s.link("current", "r1")
	s.live("app@r1.service", "r1")
	a := s.args("r9")
	a.LogLine = "2026-01-02T03:04:05Z deploy release=r9"
	if got := s.handover(a); got != "failed" {
		t.Fatalf("outcome %s", got)
	}
	if !strings.Contains(s.out.String(), "result failed reason=no_release_r9") || len(s.sys.Called()) != 0 {
		t.Errorf("calls %v", s.sys.Called())
	}
	if log, _ := os.ReadFile(s.file("deploy.log")); !strings.HasPrefix(string(log), a.LogLine+" result=failed duration=") {
		t.Errorf("deploy.log %q", log)
	}
}

func TestHandoverAppendsTheDeployLogLine(t *testing.T) {
	s := newServer(t, "r1", "r2")
	s.link("current", "r1")
	s.live("app@r1.service", "r1")
	s.sys.OnStart = ready
	a := s.args("r2")
	a.LogLine = "2026-01-02T03:04:05Z deploy release=r2 by=me"
	now := time.Unix(1000, 0)
	a.StartUnixNano = now.Add(-2345 * time.Millisecond).UnixNano()
	s.e.Now = func() time.Time { return now }
	s.handover(a)
	log, _ := os.ReadFile(s.file("deploy.log"))
	if string(log) != a.LogLine+" result=ok duration=2.3s\n" {
		t.Errorf("deploy.log %q", log)
	}
}

func TestPreviousNeverEqualsCurrent(t *testing.T) {
	t.Run("switching back to previous", func(t *testing.T) {
		s := newServer(t, "r1", "r2")
		s.link("current", "r1")
		s.link("previous", "r2")
		s.live("app@r1.service", "r1")
		s.sys.OnStart = ready
		s.handover(s.args("r2"))
		if s.target("current") != "r2" || s.target("previous") != "r1" {
			t.Errorf("current %s previous %s, want r2 r1", s.target("current"), s.target("previous"))
		}
	})
	t.Run("a later generation of the live release", func(t *testing.T) {
		s := newServer(t, "r1", "r2")
		s.link("current", "r2")
		s.link("previous", "r1")
		s.live("app@r2.service", "r2")
		s.sys.OnStart = ready
		a := s.args("r2")
		a.Instance = "r2.g1"
		if got := s.handover(a); got != "ok" {
			t.Fatalf("outcome %s", got)
		}
		if s.target("current") != "r2" || s.target("previous") != "r1" {
			t.Errorf("current %s previous %s, want r2 r1", s.target("current"), s.target("previous"))
		}
		if s.sys.State("app@r2.service") != "inactive/dead" || s.sys.State("app@r2.g1.service") != "active/running" {
			t.Errorf("want the generation live, the release's own instance stopped")
		}
	})
	t.Run("first deploy: no previous", func(t *testing.T) {
		s := newServer(t, "r1")
		s.sys.OnStart = ready
		s.handover(s.args("r1"))
		if s.target("current") != "r1" || s.target("previous") != "" {
			t.Errorf("current %s previous %q", s.target("current"), s.target("previous"))
		}
	})
}

// legacyServer is a server of the layout before instances: app.service
// serves r1, r2 waits; unitFile is app.service's file.
func legacyServer(t *testing.T) (s *server, unitFile string) {
	s = newServer(t, "r1", "r2")
	s.link("current", "r1")
	unitFile = s.root + legacyUnitDir + "/app.service"
	if err := os.MkdirAll(filepath.Dir(unitFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(unitFile, []byte("[Service]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.live("app.service", "r1")
	return s, unitFile
}

func TestHandoverRetiresTheLegacyService(t *testing.T) {
	s, unitFile := legacyServer(t)
	s.sys.OnStart = ready
	if got := s.handover(s.args("r2")); got != "ok" {
		t.Fatalf("outcome %s", got)
	}
	if _, err := os.Stat(unitFile); !os.IsNotExist(err) {
		t.Error("app.service's unit file is still there")
	}
	for _, c := range []string{"disable app.service", "stop app.service", "daemon-reload"} {
		if !s.wasCalled(c) {
			t.Errorf("no %q in %v", c, s.sys.Called())
		}
	}
	if s.target("previous") != "r1" || !strings.Contains(s.out.String(), "retired app.service") {
		t.Errorf("previous %s, want r1 (what app.service served)", s.target("previous"))
	}
}

func TestHandoverRollsBackToTheLegacyService(t *testing.T) {
	s, unitFile := legacyServer(t)
	s.sys.OnStart = fails
	if got := s.handover(s.args("r2")); got != "rolled-back" {
		t.Fatalf("outcome %s", got)
	}
	if _, err := os.Stat(unitFile); err != nil || s.sys.State("app.service") != "active/running" {
		t.Errorf("the old layout's service must stay as it was")
	}
}

func TestHandoverStopsLeftoverInstances(t *testing.T) {
	s := newServer(t, "r1", "r2", "r0")
	s.link("current", "r1")
	s.live("app@r1.service", "r1")
	s.live("app@r0.service", "r0")
	s.sys.Set("app@rx.service", "ActiveState", "failed", "SubState", "failed")
	s.sys.OnStart = ready
	s.handover(s.args("r2"))
	if s.sys.State("app@r0.service") != "inactive/dead" || !s.wasCalled("reset-failed app@rx.service") {
		t.Errorf("calls %v", s.sys.Called())
	}
	live := 0
	for u := range s.sys.Units {
		if strings.HasPrefix(u, "app@") && s.sys.State(u) == "active/running" {
			live++
		}
	}
	if live != 1 {
		t.Errorf("%d live instances, want 1", live)
	}
}

func (s *server) envFiles(content string) (envf, newf string) {
	dir := s.root + "/etc/app"
	os.MkdirAll(dir, 0o700)
	os.WriteFile(dir+"/app.env", []byte("A=old\n"), 0o600)
	os.WriteFile(dir+"/app.env.new", []byte(content), 0o600)
	return dir + "/app.env", dir + "/app.env.new"
}

func TestHandoverPutsTheEnvFileBackWhenTheNewSettingsFail(t *testing.T) {
	s := newServer(t, "r1")
	s.link("current", "r1")
	s.live("app@r1.service", "r1")
	envf, _ := s.envFiles("A=new\n")
	var seen string
	s.sys.OnStart = func(f *FakeSystemd, unit string) {
		b, _ := os.ReadFile(envf)
		seen = string(b)
		fails(f, unit)
	}
	a := s.args("r1")
	a.Instance, a.EnvFile, a.NewEnvFile = "r1.g1", "/etc/app/app.env", "/etc/app/app.env.new"
	if got := s.handover(a); got != "rolled-back" {
		t.Fatalf("outcome %s", got)
	}
	if seen != "A=new\n" {
		t.Errorf("the new instance started with %q, want the new settings", seen)
	}
	if b, _ := os.ReadFile(envf); string(b) != "A=old\n" {
		t.Errorf("env file %q after the failure, want the old settings back", b)
	}
	if _, err := os.Stat(envf + ".was"); !os.IsNotExist(err) {
		t.Error(".was left behind")
	}
}

func TestHandoverKeepsTheNewEnvFileOnceReady(t *testing.T) {
	s := newServer(t, "r1")
	s.link("current", "r1")
	s.live("app@r1.service", "r1")
	envf, newf := s.envFiles("A=new\n")
	s.sys.OnStart = ready
	a := s.args("r1")
	a.Instance, a.EnvFile, a.NewEnvFile = "r1.g1", "/etc/app/app.env", "/etc/app/app.env.new"
	if got := s.handover(a); got != "ok" {
		t.Fatalf("outcome %s", got)
	}
	if b, _ := os.ReadFile(envf); string(b) != "A=new\n" {
		t.Errorf("env file %q", b)
	}
	for _, f := range []string{envf + ".was", newf} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s left behind", f)
		}
	}
}

func TestHandoverRefusesBadArgumentsInOneLine(t *testing.T) {
	s := newServer(t, "r1")
	for name, mod := range map[string]func(*HandoverArgs){
		"release path":         func(a *HandoverArgs) { a.Release = "../etc" },
		"app":                  func(a *HandoverArgs) { a.App = "App Name" },
		"deploy path":          func(a *HandoverArgs) { a.DeployPath = "home/admin" },
		"instance of another":  func(a *HandoverArgs) { a.Instance = "r2.g1" },
		"env file elsewhere":   func(a *HandoverArgs) { a.EnvFile, a.NewEnvFile = "/etc/app/app.env", "/tmp/x" },
		"no ready timeout":     func(a *HandoverArgs) { a.ReadyTimeoutMS = 0 },
		"log line with breaks": func(a *HandoverArgs) { a.LogLine = "a\nresult ok" },
	} {
		a := s.args("r1")
		mod(&a)
		err := Handover(context.Background(), s.e, a)
		if err == nil || errors.Is(err, ErrFailed) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line naming the problem", name, err)
		}
	}
	if len(s.sys.Called()) != 0 {
		t.Errorf("a refused handover called systemd: %v", s.sys.Called())
	}
}

// The ready step's offset counts, in milliseconds, from when the handover
// step reached the server (ReceivedUnixNano), not from the transient
// unit's start: the client adds it to when it called, for the time deploy
// prints.
func TestTheReadyStepCountsFromWhenTheCallReachedTheServer(t *testing.T) {
	s := newServer(t, "r1", "r2")
	s.link("current", "r1")
	s.live("app@r1.service", "r1")
	s.sys.OnStart = ready
	now := time.Unix(1000, 0)
	s.e.Now = func() time.Time { return now }
	a := s.args("r2")
	a.ReceivedUnixNano = now.Add(-1234 * time.Millisecond).UnixNano()
	if got := s.handover(a); got != "ok" {
		t.Fatalf("outcome %s", got)
	}
	if !strings.Contains(s.out.String(), "step [1.234s] app@r2.service is ready: ") {
		t.Errorf("want the ready step at [1.234s]:\n%s", s.out.String())
	}
}
