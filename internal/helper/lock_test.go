package helper

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/testenv"
)

// stepProc is a step left running, as client.Start leaves the lock.
type stepProc struct {
	t     *testing.T
	stdin *io.PipeWriter
	lines chan string
	done  chan int
}

// startStep runs step in e (its Out and In replaced by pipes) and returns
// once it started.
func startStep(t *testing.T, e Env, step string, args any) *stepProc {
	t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := json.Marshal(Request{Protocol: Protocol, Step: step, Args: raw})
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	p := &stepProc{t: t, stdin: inW, lines: make(chan string, 100), done: make(chan int, 1)}
	e.Out = outW
	go func() {
		rc := run(context.Background(), &e, []string{step}, inR)
		outW.Close()
		p.done <- rc
	}()
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	go func() { _, _ = inW.Write(append(req, '\n')) }()
	t.Cleanup(func() { inW.Close() })
	return p
}

// expect waits for the next line and fails unless it starts with prefix.
func (p *stepProc) expect(prefix string) string {
	p.t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok || !strings.HasPrefix(l, prefix) {
			p.t.Fatalf("got line %q (open %v), want %q...", l, ok, prefix)
		}
		return l
	case <-time.After(10 * time.Second):
		p.t.Fatalf("no line %q... within 10 s", prefix)
	}
	return ""
}

// quiet fails if a line arrives within d.
func (p *stepProc) quiet(d time.Duration) {
	p.t.Helper()
	select {
	case l := <-p.lines:
		p.t.Fatalf("unexpected line %q", l)
	case <-time.After(d):
	}
}

func (p *stepProc) exit() int {
	p.t.Helper()
	select {
	case rc := <-p.done:
		return rc
	case <-time.After(10 * time.Second):
		p.t.Fatal("the step did not end within 10 s")
	}
	return -1
}

func lockEnv(t *testing.T) (Env, *FakeSystemd) {
	f := NewFakeSystemd()
	return Env{Root: t.TempDir(), Sys: f}, f
}

func lockArgs(info string) LockArgs {
	return LockArgs{DeployPath: "/srv/app", Info: info, HandoverUnits: "app-handover-*.service"}
}

func TestLockExcludesASecondDeployUntilReleasedAndRemovesTheInfoOnRelease(t *testing.T) {
	e, _ := lockEnv(t)
	a := startStep(t, e, "lock", lockArgs("alice deploying since then"))
	a.expect("locked ")
	b := startStep(t, e, "lock", lockArgs("bob"))
	b.expect("busy alice deploying since then")
	b.expect("result busy alice deploying since then")
	if rc := b.exit(); rc != 1 {
		t.Fatalf("a refused lock exits %d, want 1", rc)
	}
	_, _ = a.stdin.Write([]byte{Heartbeat, Heartbeat, LockRelease})
	a.expect("result ok released")
	if rc := a.exit(); rc != 0 {
		t.Fatalf("release exits %d", rc)
	}
	if _, err := os.Stat(e.Path("/srv/app/" + LockInfoFile)); !os.IsNotExist(err) {
		t.Fatalf("info file after a clean release: %v", err)
	}
	c := startStep(t, e, "lock", lockArgs("carol"))
	if l := c.expect("locked"); l != "locked " {
		t.Fatalf("after a clean release: %q, want no stale holder", l)
	}
}

func TestLockGoesWhenStdinClosesAndTheNextHolderIsToldWhoDied(t *testing.T) {
	e, _ := lockEnv(t)
	a := startStep(t, e, "lock", lockArgs("alice"))
	a.expect("locked")
	a.stdin.Close()
	a.expect("result ok given up")
	a.exit()
	b := startStep(t, e, "lock", lockArgs("bob"))
	b.expect("locked alice")
}

func TestLockGoesWhenHeartbeatsStop(t *testing.T) {
	e, _ := lockEnv(t)
	args := lockArgs("alice")
	args.SilenceMillis = 300
	a := startStep(t, e, "lock", args)
	a.expect("locked")
	for range 4 {
		time.Sleep(150 * time.Millisecond)
		_, _ = a.stdin.Write([]byte{Heartbeat})
	}
	a.quiet(100 * time.Millisecond) // heartbeats kept it past its silence
	a.expect("result ok given up")
	a.exit()
	b := startStep(t, e, "lock", lockArgs("bob"))
	b.expect("locked alice")
}

func TestLockWaitsForTheHolderUpToTheWait(t *testing.T) {
	e, _ := lockEnv(t)
	a := startStep(t, e, "lock", lockArgs("alice"))
	a.expect("locked")
	args := lockArgs("bob")
	args.WaitSeconds = 10
	b := startStep(t, e, "lock", args)
	b.expect("busy alice")
	b.quiet(200 * time.Millisecond)
	_, _ = a.stdin.Write([]byte{LockRelease})
	b.expect("locked ")
}

func TestLockWaitsForAHandoverAnEarlierDeployLeftRunning(t *testing.T) {
	e, f := lockEnv(t)
	f.Set("app-handover-r1-1.service", "ActiveState", "inactive")
	f.Set("app-handover-r2-2.service", "ActiveState", "active")
	f.Set("other-handover-r3-3.service", "ActiveState", "active")
	a := startStep(t, e, "lock", lockArgs("alice"))
	a.expect("handover")
	a.quiet(200 * time.Millisecond)
	f.Set("app-handover-r2-2.service", "ActiveState", "deactivating")
	a.quiet(100 * time.Millisecond)
	f.Set("app-handover-r2-2.service", "ActiveState", "inactive")
	a.expect("locked")
}

// A killed client's helper may be between writing a detached step's
// request and systemd-run: the next lock waits for that unit as for a
// running one, unless the request is older than DetachStartGrace (its
// helper died before starting it).
func TestLockWaitsForADetachedStepStillStarting(t *testing.T) {
	e, f := lockEnv(t)
	req := e.Path(DetachDir + "/app-handover-restore-swap-r1-1.request")
	writeFiles(t, e, map[string]string{DetachDir + "/app-handover-restore-swap-r1-1.request": "{}\n", DetachDir + "/other-handover-x-1.request": "{}\n"})
	a := startStep(t, e, "lock", lockArgs("alice"))
	a.expect("handover")
	a.quiet(200 * time.Millisecond)
	// The unit started: it removes its request first thing, and runs.
	f.Set("app-handover-restore-swap-r1-1.service", "ActiveState", "active")
	if err := os.Remove(req); err != nil {
		t.Fatal(err)
	}
	a.quiet(200 * time.Millisecond)
	f.Set("app-handover-restore-swap-r1-1.service", "ActiveState", "inactive")
	a.expect("locked")
	a.stdin.Close()
	a.exit()

	writeFiles(t, e, map[string]string{DetachDir + "/app-handover-backup-r2-2.request": "{}\n"})
	old := time.Now().Add(-DetachStartGrace - time.Second)
	if err := os.Chtimes(e.Path(DetachDir+"/app-handover-backup-r2-2.request"), old, old); err != nil {
		t.Fatal(err)
	}
	b := startStep(t, e, "lock", lockArgs("bob"))
	if l := b.expect("locked"); !strings.HasPrefix(l, "locked") {
		t.Fatalf("with only a stale request: %q", l)
	}
}

func TestLockRemovesUploadsThatDied(t *testing.T) {
	e, _ := lockEnv(t)
	rel := e.Path("/srv/app/releases")
	for _, d := range []string{".upload-x", ".new-y/app", "20260101T000000Z-0123456789ab/app"} {
		if err := os.MkdirAll(filepath.Join(rel, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a := startStep(t, e, "lock", lockArgs("alice"))
	a.expect("locked")
	left, _ := os.ReadDir(rel)
	if len(left) != 1 || left[0].Name() != "20260101T000000Z-0123456789ab" {
		t.Fatalf("releases/ under the lock: %v, want only the release", left)
	}
}

// The shell-based Slipway locks the same file with flock(1): a deploy of
// either kind waits for the other.
func TestLockExcludesTheShellClientsFlock(t *testing.T) {
	_, err := exec.LookPath("flock")
	testenv.Need(t, err == nil, "flock(1): apt-get install util-linux")
	e, _ := lockEnv(t)
	a := startStep(t, e, "lock", lockArgs("alice"))
	a.expect("locked")
	file := e.Path("/srv/app/" + LockFile)
	if err := exec.Command("flock", "-n", file, "true").Run(); err == nil {
		t.Fatal("flock(1) took the lock the helper holds")
	}
	_, _ = a.stdin.Write([]byte{LockRelease})
	a.exit()
	old := exec.Command("flock", file, "sleep", "30")
	if err := old.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = old.Process.Kill(); _ = old.Wait() }()
	for deadline := time.Now().Add(5 * time.Second); ; {
		if exec.Command("flock", "-n", file, "true").Run() != nil {
			break // the old client holds it
		}
		if time.Now().After(deadline) {
			t.Fatal("flock(1) never took the lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b := startStep(t, e, "lock", lockArgs("bob"))
	b.expect("busy")
	b.expect("result busy")
}

func TestLockStatusSaysWhoHoldsItAndWhoDied(t *testing.T) {
	e, _ := lockEnv(t)
	status := func() string {
		out, rc := runStep(t, e, "lock-status", LockStatusArgs{DeployPath: "/srv/app"})
		if rc != 0 {
			t.Fatalf("lock-status: rc %d, %q", rc, out)
		}
		return out
	}
	if s := status(); s != "" {
		t.Fatalf("no lock file: %q", s)
	}
	a := startStep(t, e, "lock", lockArgs("alice"))
	a.expect("locked")
	if s := status(); s != "held by alice\n" {
		t.Fatalf("held: %q", s)
	}
	a.stdin.Close()
	a.exit()
	if s := status(); s != "free (the last holder died without releasing: alice)\n" {
		t.Fatalf("after a death: %q", s)
	}
}

func TestLockRefusesABadDeployPathInOneLine(t *testing.T) {
	e, _ := lockEnv(t)
	out, rc := runStep(t, e, "lock", LockArgs{DeployPath: "srv/../app"})
	if rc != 1 || !strings.HasPrefix(out, "result failed DEPLOY_PATH") || strings.Count(out, "\n") != 1 {
		t.Fatalf("rc %d, %q", rc, out)
	}
}

// runStep runs step to its end and returns its output and exit status.
func runStep(t *testing.T, e Env, step string, args any) (string, int) {
	t.Helper()
	return runStepIn(t, e, step, args, "")
}

func runStepIn(t *testing.T, e Env, step string, args any, stdin string) (string, int) {
	t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := json.Marshal(Request{Protocol: Protocol, Step: step, Args: raw})
	var out strings.Builder
	e.Out = &out
	rc := run(context.Background(), &e, []string{step}, strings.NewReader(string(req)+"\n"+stdin))
	return out.String(), rc
}
