package helper

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
)

func testProcUnits() *ProcUnits {
	return &ProcUnits{User: "app", EnvFile: "/etc/app/app.env", CurrentLink: testDP + "/current", ReleasesDir: testDP + "/releases",
		MemoryMax: "512M", StopTimeoutSec: 45, Hardening: []string{"NoNewPrivileges=yes", "ProtectSystem=strict"},
		CurrentBind: "BindReadOnlyPaths=" + testDP + "/current", OnFailure: "app-notify@%n.service"}
}

func (s *server) procs(release, js string) {
	s.t.Helper()
	if err := os.WriteFile(s.file("releases/"+release+"/"+ProcsFile), []byte(js), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func (s *server) unitFile(name string) string {
	b, _ := os.ReadFile(s.root + UnitDir + "/" + name)
	return string(b)
}

// TestTheSwitchMakesTheJobAndWorkerUnitsFollowTheRelease: the new
// release's timers and workers once it is ready, the old release's workers
// stopped after the new ones started, a job the new release lacks removed.
func TestTheSwitchMakesTheJobAndWorkerUnitsFollowTheRelease(t *testing.T) {
	s := newServer(t, "r1", "r2")
	if err := os.MkdirAll(s.root+UnitDir, 0o755); err != nil {
		t.Fatal(err)
	}
	s.e.Self = "/usr/local/lib/slipway/slipway-helper-x"
	s.link("current", "r1")
	s.live("app@r1.service", "r1")
	s.procs("r1", `{"jobs":[{"name":"prune","schedule":"hourly","deadline_sec":60},{"name":"old","schedule":"daily","deadline_sec":60}],"workers":[{"name":"mail","instances":1}]}`)
	s.procs("r2", `{"jobs":[{"name":"prune","schedule":"*:0/5","time_zone":"Europe/Paris","deadline_sec":90}],"workers":[{"name":"mail","instances":2}]}`)
	s.sys.OnStart = ready
	a := s.args("r1")
	a.Procs = testProcUnits()
	// r1 first, from nothing: its units.
	s.sys.Set("app@r1.service", "ActiveState", "active", "SubState", "running", "StatusText", "commit=c-r1")
	if got := s.handover(a); got != "ok" {
		t.Fatal(got)
	}
	if !strings.Contains(s.unitFile("app-job-old.timer"), "OnCalendar=daily") || s.sys.State("app-worker-mail@r1.1.service") != "active/running" {
		t.Fatalf("r1's units: %q, worker %s", s.unitFile("app-job-old.timer"), s.sys.State("app-worker-mail@r1.1.service"))
	}
	a = s.args("r2")
	a.Procs = testProcUnits()
	if got := s.handover(a); got != "ok" {
		t.Fatal(got)
	}
	svc, tmr := s.unitFile("app-job-prune.service"), s.unitFile("app-job-prune.timer")
	for _, want := range []string{"ExecStart=" + testDP + "/current/app job prune", "User=app", "EnvironmentFile=/etc/app/app.env",
		"SyslogIdentifier=app-job-prune", "Slice=system-app.slice", "RuntimeMaxSec=105", "StartLimitIntervalSec=0", "OnFailure=app-notify@%n.service", "Type=exec", "ProtectSystem=strict",
		"BindReadOnlyPaths=" + testDP + "/current"} {
		if !strings.Contains(svc, want+"\n") {
			t.Errorf("app-job-prune.service lacks %q:\n%s", want, svc)
		}
	}
	for _, want := range []string{"OnCalendar=*:0/5 Europe/Paris", "Persistent=yes", "AccuracySec=1s", "Unit=app-job-prune.service"} {
		if !strings.Contains(tmr, want+"\n") {
			t.Errorf("app-job-prune.timer lacks %q:\n%s", want, tmr)
		}
	}
	if w := s.unitFile("app-worker-mail@.service"); !strings.Contains(w, "ExecStart=/usr/local/lib/slipway/slipway-helper-x worker-release "+testDP+"/releases mail %i\n") || !strings.Contains(w, "TimeoutStopSec=45s\n") {
		t.Errorf("worker template:\n%s", w)
	}
	if s.unitFile("app-job-old.timer") != "" || s.unitFile("app-job-old.service") != "" || !s.wasCalled("disable app-job-old.timer") {
		t.Errorf("the job r2 lacks kept its units: %v", s.sys.Called())
	}
	if !s.wasCalled("enable app-job-prune.timer") || !s.wasCalled("restart app-job-prune.timer") {
		t.Errorf("the changed timer was not enabled and restarted: %v", s.sys.Called())
	}
	calls := s.sys.Called()
	for _, u := range []string{"app-worker-mail@r2.1.service", "app-worker-mail@r2.2.service"} {
		if s.sys.State(u) != "active/running" {
			t.Errorf("%s: %s", u, s.sys.State(u))
		}
		// The new workers start before the old ones stop, after the new web instance is ready.
		if i := slices.Index(calls, "start "+u); i < slices.Index(calls, "start app@r2.service") || i > slices.Index(calls, "stop app-worker-mail@r1.1.service") {
			t.Errorf("%s started out of order: %v", u, calls)
		}
	}
	if s.sys.State("app-worker-mail@r1.1.service") != "inactive/dead" {
		t.Errorf("the old worker: %s", s.sys.State("app-worker-mail@r1.1.service"))
	}
}

// TestAFailedSwitchLeavesJobsAndWorkersAlone: the new instance never gets
// ready: no unit of its release is written, no worker touched.
func TestAFailedSwitchLeavesJobsAndWorkersAlone(t *testing.T) {
	s := newServer(t, "r1", "r2")
	s.link("current", "r1")
	s.live("app@r1.service", "r1")
	s.sys.Set("app-worker-mail@r1.1.service", "ActiveState", "active", "SubState", "running")
	s.procs("r2", `{"jobs":[{"name":"prune","schedule":"hourly","deadline_sec":60}],"workers":[]}`)
	s.sys.OnStart = fails
	a := s.args("r2")
	a.Procs = testProcUnits()
	if got := s.handover(a); got != "rolled-back" {
		t.Fatal(got)
	}
	if s.unitFile("app-job-prune.timer") != "" || s.sys.State("app-worker-mail@r1.1.service") != "active/running" {
		t.Errorf("a failed switch changed the jobs or workers: %v", s.sys.Called())
	}
}

func TestWorkerReleaseExecsTheReleasesAppAsAWorker(t *testing.T) {
	var got []string
	var env []string
	e := &Env{Root: "/r", exec: func(p string, argv, en []string) error { got, env = append([]string{p}, argv...), en; return nil }}
	if err := workerRelease(context.Background(), e, []string{"/srv/app/releases", "mail", "rel-1.g2.3"}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "/r/srv/app/releases/rel-1/app /srv/app/releases/rel-1/app worker mail" || !slices.Contains(env, "SLIPWAY_RELEASE=rel-1") {
		t.Errorf("exec %v env has SLIPWAY_RELEASE=rel-1: %v", got, slices.Contains(env, "SLIPWAY_RELEASE=rel-1"))
	}
	for _, bad := range [][]string{{"/srv/app/releases", "mail", "rel-1"}, {"/srv/app/releases", "Mail", "rel-1.1"}, {"rel", "mail", "rel-1.1"}, {"/srv/app/releases", "mail", "../x.1"}} {
		if err := workerRelease(context.Background(), e, bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestReleaseInstallKeepsTheJobsAndRefusesABadSchedule: the app's answer
// to `jobs -json` lands beside it; a schedule systemd refuses stops the
// install in one line.
func TestReleaseInstallKeepsTheJobsAndRefusesABadSchedule(t *testing.T) {
	for _, tc := range []struct{ schedule, want string }{{"hourly", ""}, {"*-*-* 25:00", "is not valid for systemd"}} {
		e := Env{Root: t.TempDir(), Sys: NewFakeSystemd()}
		script := "#!/bin/sh\nif [ \"$1\" = jobs ]; then echo '{\"jobs\":[{\"name\":\"prune\",\"schedule\":\"" + tc.schedule + "\",\"deadline_sec\":60}],\"workers\":[]}'; else echo \"version v1\"; fi\n"
		p := t.TempDir() + "/app"
		if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		sum := upload(t, e, relA, p)
		out, rc := runStep(t, e, "release-install", ReleaseInstallArgs{DeployPath: "/srv/app", ID: relA, SHA256: sum})
		if tc.want == "" {
			b, _ := os.ReadFile(e.Path("/srv/app/releases/" + relA + "/" + ProcsFile))
			if rc != 0 || !strings.Contains(string(b), `"schedule":"hourly"`) {
				t.Errorf("rc %d %q, app.jobs %q", rc, out, b)
			}
			continue
		}
		if rc == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("schedule %q: rc %d, %q", tc.schedule, rc, out)
		}
		if _, err := os.Stat(e.Path("/srv/app/releases/" + relA)); err == nil {
			t.Errorf("a release with a bad schedule was installed")
		}
	}
}

// TestAtBootTheCurrentReleasesWorkersStart: <app>-current.service starts
// the web instance and the workers app.jobs names, none of them enabled.
func TestAtBootTheCurrentReleasesWorkersStart(t *testing.T) {
	s := newServer(t, "r2")
	s.link("current", "r2")
	s.procs("r2", `{"jobs":[],"workers":[{"name":"mail","instances":2}]}`)
	if rc := run(context.Background(), s.e, []string{"start-current", testDP + "/current", "app"}, nil); rc != 0 {
		t.Fatalf("exit %d", rc)
	}
	want := []string{"start app@r2.service", "start app-worker-mail@r2.1.service", "start app-worker-mail@r2.2.service"}
	if c := s.sys.Called(); !slices.Equal(c, want) {
		t.Errorf("calls %q, want %q", c, want)
	}
}

// TestEnvSetsSecondInstanceGetsWorkersOfItsOwn: a switch to the same
// release's next generation (env:set) replaces the workers too, so they
// read the new env file.
func TestEnvSetsSecondInstanceGetsWorkersOfItsOwn(t *testing.T) {
	s := newServer(t, "r1")
	if err := os.MkdirAll(s.root+UnitDir, 0o755); err != nil {
		t.Fatal(err)
	}
	s.link("current", "r1")
	s.live("app@r1.service", "r1")
	s.sys.Set("app-worker-mail@r1.1.service", "ActiveState", "active", "SubState", "running")
	s.procs("r1", `{"jobs":[],"workers":[{"name":"mail","instances":1}]}`)
	s.sys.OnStart = ready
	a := s.args("r1")
	a.Instance, a.Procs = "r1.g1", testProcUnits()
	if got := s.handover(a); got != "ok" {
		t.Fatal(got)
	}
	if s.sys.State("app-worker-mail@r1.g1.1.service") != "active/running" || s.sys.State("app-worker-mail@r1.1.service") != "inactive/dead" {
		t.Errorf("new %s, old %s", s.sys.State("app-worker-mail@r1.g1.1.service"), s.sys.State("app-worker-mail@r1.1.service"))
	}
}

// TestTheSwitchLeavesAnotherAppsUnitsThatShareThePrefix: apps named
// app-job-x and app-worker-y share app's glob prefixes; their units are
// never removed nor stopped.
func TestTheSwitchLeavesAnotherAppsUnitsThatShareThePrefix(t *testing.T) {
	s := newServer(t, "r1")
	if err := os.MkdirAll(s.root+UnitDir, 0o755); err != nil {
		t.Fatal(err)
	}
	others := map[string]string{
		"app-job-x-current.service": "[Unit]\nDescription=app-job-x: start the current release\n",
		"app-job-x.timer":           "[Unit]\nDescription=someone's own timer\n",
		"app-worker-y@.service":     "[Unit]\nDescription=app-worker-y web app, release %i\n",
	}
	for name, content := range others {
		if err := os.WriteFile(s.root+UnitDir+"/"+name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s.sys.Set("app-worker-y@rel.service", "ActiveState", "active", "SubState", "running")
	s.link("current", "r1")
	s.live("app@r1.service", "r1")
	s.procs("r1", `{"jobs":[],"workers":[]}`)
	a := s.args("r1")
	a.Procs = testProcUnits()
	if got := s.handover(a); got != "ok" {
		t.Fatal(got)
	}
	for name, content := range others {
		if s.unitFile(name) != content {
			t.Errorf("%s was changed or removed", name)
		}
	}
	if s.sys.State("app-worker-y@rel.service") != "active/running" || s.wasCalled("stop app-worker-y@rel.service") {
		t.Errorf("another app's instance was stopped: %v", s.sys.Called())
	}
}
