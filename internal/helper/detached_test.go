package helper

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

type slowArgs struct {
	Lines []string `json:"lines"`
}

func init() {
	Register("test-slow", true, func(ctx context.Context, e *Env, a slowArgs) error {
		for _, l := range a.Lines {
			e.Line("step", l)
			time.Sleep(20 * time.Millisecond)
		}
		e.Result("ok", "n="+string(rune('0'+len(a.Lines))))
		return nil
	})
}

// runUnit plays systemd for a transient unit: the command's stdin and
// stdout are the files its properties name, the unit is active while it
// runs, gone after.
func runUnit(root string, exit bool) func(f *FakeSystemd, t Transient) {
	return func(f *FakeSystemd, t Transient) {
		f.Set(t.Unit, "ActiveState", "active", "SubState", "running")
		var in, out string
		for _, p := range t.Properties {
			if v, ok := strings.CutPrefix(p, "StandardInput=file:"); ok {
				in = v
			}
			if v, ok := strings.CutPrefix(p, "StandardOutput=file:"); ok {
				out = v
			}
		}
		stdin, err1 := os.Open(root + in)
		stdout, err2 := os.OpenFile(root+out, os.O_WRONLY, 0)
		if err1 == nil && err2 == nil && !exit {
			run(context.Background(), &Env{Root: root, Sys: f, Out: stdout}, t.Cmd[1:], stdin)
		}
		stdin.Close()
		stdout.Close()
		f.Set(t.Unit, "ActiveState", "inactive", "SubState", "dead", "Result", "exit-code")
	}
}

func testDetached() Detached {
	return Detached{Unit: "app-handover-t-1.service", Description: "test", MaxSec: 60, Properties: []string{"NoNewPrivileges=yes"}}
}

func TestDetachRunsTheStepInATransientUnitAndRelaysItsLines(t *testing.T) {
	root := t.TempDir()
	sys := NewFakeSystemd()
	sys.OnTransient = runUnit(root, false)
	var out bytes.Buffer
	e := &Env{Root: root, Sys: sys, Out: &out, Self: "/usr/local/lib/slipway/slipway-helper-x"}
	if err := Detach(context.Background(), e, testDetached(), "test-slow", slowArgs{Lines: []string{"one", "two"}}); err != nil {
		t.Fatal(err)
	}
	if want := "detached app-handover-t-1.service\nstep one\nstep two\nresult ok n=2\n"; out.String() != want {
		t.Errorf("relayed %q, want %q", out.String(), want)
	}
	tr := sys.Transients[0]
	if tr.Unit != "app-handover-t-1.service" || strings.Join(tr.Cmd, " ") != e.Self+" detached" ||
		!strings.Contains(strings.Join(tr.Properties, " "), "RuntimeMaxSec=60") || tr.Properties[len(tr.Properties)-1] != "NoNewPrivileges=yes" {
		t.Errorf("transient unit %+v", tr)
	}
	// The request (the step's arguments) and the output are gone.
	if left, _ := os.ReadDir(root + DetachDir); len(left) != 0 {
		t.Errorf("left in %s: %v", DetachDir, left)
	}
}

func TestDetachReportsAUnitGoneWithoutAResult(t *testing.T) {
	root := t.TempDir()
	sys := NewFakeSystemd()
	sys.OnTransient = runUnit(root, true)
	var out bytes.Buffer
	e := &Env{Root: root, Sys: sys, Out: &out, Self: "/helper"}
	err := Detach(context.Background(), e, testDetached(), "test-slow", slowArgs{})
	if !errors.Is(err, ErrFailed) || !strings.Contains(out.String(), "result failed app-handover-t-1.service ended without a result (exit-code)") {
		t.Errorf("error %v, output %q", err, out.String())
	}
}

// A killed follower is a cancelled one: the unit is not stopped.
func TestDetachLeavesTheUnitRunningWhenTheFollowerStops(t *testing.T) {
	root := t.TempDir()
	sys := NewFakeSystemd()
	done := make(chan struct{})
	sys.OnTransient = func(f *FakeSystemd, tr Transient) {
		runUnit(root, false)(f, tr)
		close(done)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	e := &Env{Root: root, Sys: sys, Out: &bytes.Buffer{}, Self: "/helper"}
	if err := Detach(ctx, e, testDetached(), "test-slow", slowArgs{Lines: []string{"a", "b", "c", "d", "e"}}); err == nil {
		t.Fatal("a cancelled follower returned no error")
	}
	<-done
	for _, c := range sys.Called() {
		if strings.HasPrefix(c, "stop ") {
			t.Errorf("the follower stopped something: %v", sys.Called())
		}
	}
}

func TestDetachRefusesABadUnit(t *testing.T) {
	e := &Env{Root: t.TempDir(), Sys: NewFakeSystemd(), Out: &bytes.Buffer{}}
	for _, d := range []Detached{
		{Unit: "../x.service", MaxSec: 1},
		{Unit: "app-handover-x.service"},
		{Unit: "app-handover-x.service", MaxSec: 1, Properties: []string{"NoValue"}},
		{Unit: "app-handover-x.service", MaxSec: 1, Description: "two\nlines"},
	} {
		if err := Detach(context.Background(), e, d, "test-slow", slowArgs{}); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: %v", d, err)
		}
	}
}

func TestInstancesListsReleaseInstancesAndTheLegacyService(t *testing.T) {
	root := t.TempDir()
	sys := NewFakeSystemd()
	sys.Set("app@r1.service", "ActiveState", "active", "SubState", "running", "MainPID", "42", "StatusText", "version=v commit=c")
	sys.Set("app@r0.service", "ActiveState", "failed", "SubState", "failed", "MainPID", "0")
	sys.Set("other@r1.service", "ActiveState", "active", "SubState", "running")
	os.MkdirAll(root+legacyUnitDir, 0o755)
	os.WriteFile(root+legacyUnitDir+"/app.service", nil, 0o644)
	var out bytes.Buffer
	if err := Instances(context.Background(), &Env{Root: root, Sys: sys, Out: &out}, InstancesArgs{App: "app"}); err != nil {
		t.Fatal(err)
	}
	want := "instance app@r0.service\tfailed/failed\t0\t\n" +
		"instance app@r1.service\tactive/running\t42\tversion=v commit=c\n" +
		"instance app.service\tinactive/dead\t\t\n" +
		"result ok count=3\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}
