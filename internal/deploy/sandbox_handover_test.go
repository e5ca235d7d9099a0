package deploy

// The handover on the sandbox: a new release starts beside the live one on
// the same socket and replaces it only once ready, whatever happens to the
// deploy client, the database or the server meanwhile.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	loadgen "github.com/slipway-dev/slipway/internal/bench/load"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest/apptest"
	"github.com/slipway-dev/slipway/internal/service"
)

// liveInstances lists the active app@ instances.
func (e sandboxEnv) liveInstances(t *testing.T) []string {
	t.Helper()
	out := e.sh(t, fmt.Sprintf("systemctl list-units --plain --no-legend --state=active,activating,deactivating %s | awk '{print $1}'", e.svc.InstancePattern()))
	return strings.Fields(out)
}

// settle waits until the server has finished on its own: no handover
// running, the deploy lock free, no upload left. within bounds the wait:
// the server must get there by itself, without another deploy.
func (e sandboxEnv) settle(t *testing.T, within time.Duration) {
	t.Helper()
	check := fmt.Sprintf(`systemctl -q is-active %s && echo handover
flock -n %s/.deploy.lock true || echo locked
ls -A %s | grep -E '^\.(upload|new)-' || true`, e.svc.HandoverUnit(), e.svc.DeployPath, e.svc.ReleasesDir())
	deadline := time.Now().Add(within)
	for {
		left := e.sh(t, check)
		if left == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not settle by itself within %s: %s", within, left)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// consistent checks what must hold after anything: exactly one live
// instance, the one current names, serving; previous neither current nor a
// release in bad; want (when set) is current.
func (e sandboxEnv) consistent(t *testing.T, want string, bad ...string) {
	t.Helper()
	cur := strings.TrimPrefix(e.current(t), "releases/")
	prev := strings.TrimPrefix(e.sh(t, "readlink "+e.svc.PreviousLink()+" || true"), "releases/")
	if want != "" && cur != want {
		t.Errorf("current is %s, want %s", cur, want)
	}
	if live := e.liveInstances(t); len(live) != 1 || live[0] != e.svc.InstanceUnit(cur) {
		t.Errorf("live instances %v, want exactly %s", live, e.svc.InstanceUnit(cur))
	}
	if prev == cur {
		t.Errorf("previous = current = %s", cur)
	}
	for _, b := range bad {
		if prev == b {
			t.Errorf("previous names %s, a release that never became ready", b)
		}
	}
	commit := e.sh(t, "sed -n 's/^commit //p' "+e.svc.ReleasesDir()+"/"+cur+"/app.version")
	if got := e.servingCommit(t); got != commit {
		t.Errorf("serving commit %s, current release %s has %s", got, cur, commit)
	}
	if st := e.sh(t, "systemctl is-active "+e.svc.CurrentUnit()+" || true"); st != "active" {
		t.Errorf("%s is %s, want active (it keeps the socket from activating instances)", e.svc.CurrentUnit(), st)
	}
	if en := e.sh(t, "systemctl is-enabled "+e.svc.InstanceUnit(cur)+" 2>&1 || true"); en == "enabled" {
		t.Errorf("%s is enabled: at boot only current decides", e.svc.InstanceUnit(cur))
	}
}

func (e sandboxEnv) pid(t *testing.T, release string) string {
	t.Helper()
	return e.sh(t, "systemctl show -P MainPID "+e.svc.InstanceUnit(release))
}

// useDatabase creates a fresh database and points the env file at it: the
// next instance started migrates it from scratch.
func (e sandboxEnv) useDatabase(t *testing.T, name string) {
	t.Helper()
	url, err := e.sb.FreshDatabase(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if err := apptest.WriteEnv(context.Background(), e.sb, e.svc.EnvFile(), "DATABASE_URL="+url+"\n"); err != nil {
		t.Fatal(err)
	}
}

func (e sandboxEnv) psql(t *testing.T, db, query string) string {
	t.Helper()
	return e.sh(t, fmt.Sprintf("runuser -u postgres -- psql -d %s -Atqc %s", db, shellQuote(query)))
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func TestHandoverOnSandbox(t *testing.T) {
	e := provisioned(t)
	base := deployOK(t, e.options(new(bytes.Buffer), appBinary(t, "h1", "ab0de001")))

	t.Run("a 20 s migration under 200 req/s: the old release serves throughout, nothing fails", func(t *testing.T) {
		e.useDatabase(t, "mig20")
		// The live instance on the fresh database first.
		deployOK(t, e.options(new(bytes.Buffer), appBinary(t, "h2", "ab0de002")))
		old := strings.TrimPrefix(e.current(t), "releases/")
		oldPID := e.pid(t, old)
		load := loadgen.Start(context.Background(), "http://"+e.svc.ListenAddr+"/version", 200)
		var out bytes.Buffer
		res := deployOK(t, e.options(&out, slowBinary(t, "h3slow", "ab0de003", 20)))
		time.Sleep(500 * time.Millisecond)
		lr := load.Stop()
		t.Logf("20 s migration under load: %s\n%s", lr, out.String())
		if lr.Failed > 0 {
			t.Errorf("%d requests failed: %v", lr.Failed, lr.Errors)
		}
		// Counts, not timings: the old one answered while the new one
		// migrated; the new one answered after.
		if lr.Answered("ab0de002") == 0 || lr.Answered("ab0de003") == 0 {
			t.Errorf("answers by release: %v", lr.Answers)
		}
		if n := e.psql(t, "mig20", "SELECT count(*) FROM slow_runs"); n != "1" {
			t.Errorf("the slow migration ran %s times", n)
		}
		if !strings.Contains(out.String(), "stopping "+e.svc.InstanceUnit(old)) {
			t.Errorf("deploy output does not say it stopped the old instance:\n%s", out.String())
		}
		if oldPID == "0" {
			t.Error("the old instance was not running before")
		}
		e.consistent(t, res.Release)
	})

	t.Run("two instances migrating at once: the advisory lock lets one migrate, the other waits", func(t *testing.T) {
		e.useDatabase(t, "lock2")
		// The slow release is on disk (last subtest); a twin folder of it is
		// a second instance of the same migrations.
		id := strings.TrimPrefix(e.current(t), "releases/")
		twin := id[:len(id)-1] + "x"
		e.sh(t, fmt.Sprintf("cp -a %[1]s/%[2]s %[1]s/%[3]s", e.svc.ReleasesDir(), id, twin))
		defer e.sh(t, "rm -rf "+e.svc.ReleasesDir()+"/"+twin)
		a, b := e.svc.InstanceUnit(id), e.svc.InstanceUnit(twin)
		// The live instance restarts on the fresh database with its twin.
		e.sh(t, fmt.Sprintf("systemctl stop %s; systemctl start --no-block %s %s", a, a, b))
		deadline := time.Now().Add(2 * time.Minute)
		for e.sh(t, fmt.Sprintf("systemctl is-active %s %s || true", a, b)) != "active\nactive" {
			if time.Now().After(deadline) {
				t.Fatalf("both instances not ready:\n%s", e.sh(t, "journalctl -n 40 --no-pager -o cat -u "+a+" -u "+b))
			}
			time.Sleep(300 * time.Millisecond)
		}
		if n := e.psql(t, "lock2", "SELECT count(*) FROM slow_runs"); n != "1" {
			t.Errorf("the slow migration ran %s times with two instances starting at once", n)
		}
		if n := e.psql(t, "lock2", "SELECT count(*) FROM goose_db_version WHERE version_id = 90"); n != "1" {
			t.Errorf("version 90 recorded %s times", n)
		}
		e.sh(t, "systemctl stop "+b)
		e.consistent(t, id)
	})

	t.Run("PostgreSQL stopped mid-deploy: the old instance keeps running, the new one is stopped", func(t *testing.T) {
		old := strings.TrimPrefix(e.current(t), "releases/")
		pid := e.pid(t, old)
		e.sh(t, "systemctl stop postgresql")
		defer e.sh(t, "systemctl start postgresql")
		var out bytes.Buffer
		o := e.options(&out, appBinary(t, "h4", "ab0de004"))
		o.ReadyTimeout = 10 * time.Second
		// The handover's own safety; with backups on, the backup refuses
		// first (TestBackupsOnSandbox).
		o.NoBackup = true
		res, err := Deploy(context.Background(), o, false)
		if err == nil {
			t.Fatalf("deploy without a database succeeded:\n%s", out.String())
		}
		if !strings.Contains(err.Error(), "rolled back: release "+old+" kept serving") {
			t.Errorf("error: %v", err)
		}
		if got := e.pid(t, old); got != pid {
			t.Errorf("old instance pid %s, was %s", got, pid)
		}
		if st := e.sh(t, "systemctl is-active "+e.svc.InstanceUnit(res[0].Release)+" || true"); st != "inactive" {
			t.Errorf("new instance %s", st)
		}
		e.sh(t, "systemctl start postgresql")
		e.consistent(t, old, res[0].Release)
	})

	t.Run("a rerun of a deploy whose current release is not running starts it and keeps previous", func(t *testing.T) {
		r5 := deployOK(t, e.options(new(bytes.Buffer), appBinary(t, "h5", "ab0de005")))
		prev := e.sh(t, "readlink "+e.svc.PreviousLink())
		e.sh(t, "systemctl stop "+e.svc.InstanceUnit(r5.Release))
		var out bytes.Buffer
		res := deployOK(t, e.options(&out, appBinary(t, "h5", "ab0de005")))
		if res.Uploaded || res.Outcome != OutcomeOK || !strings.Contains(out.String(), "current but not running") {
			t.Errorf("rerun: %+v\n%s", res, out.String())
		}
		if p := e.sh(t, "readlink "+e.svc.PreviousLink()); p != prev {
			t.Errorf("previous %s, want still %s", p, prev)
		}
		e.consistent(t, r5.Release)
		var rb bytes.Buffer
		if err := Rollback(context.Background(), e.options(&rb, ""), ""); err != nil {
			t.Fatalf("rollback after the rerun: %v\n%s", err, rb.String())
		}
		e.consistent(t, strings.TrimPrefix(prev, "releases/"))
		if p := e.sh(t, "readlink "+e.svc.PreviousLink()); p != "releases/"+r5.Release {
			t.Errorf("after rollback previous %s, want releases/%s", p, r5.Release)
		}
	})

	t.Run("a reboot starts the current release only", func(t *testing.T) {
		r6 := deployOK(t, e.options(new(bytes.Buffer), appBinary(t, "h6", "ab0de006")))
		// The sandbox cannot reboot its container: stop everything of the
		// app as a shutdown does, then start the boot targets again.
		e.sh(t, fmt.Sprintf("systemctl stop %s %s %s", e.svc.SocketUnit(), e.svc.CurrentUnit(), e.svc.InstancePattern()))
		if live := e.liveInstances(t); len(live) != 0 {
			t.Fatalf("instances after the shutdown: %v", live)
		}
		e.sh(t, "systemctl start sockets.target multi-user.target")
		deadline := time.Now().Add(time.Minute)
		for e.sh(t, "systemctl is-active "+e.svc.InstanceUnit(r6.Release)+" || true") != "active" {
			if time.Now().After(deadline) {
				t.Fatalf("current release not started at boot:\n%s", e.sh(t, "systemctl status --no-pager "+e.svc.CurrentUnit()+" || true"))
			}
			time.Sleep(200 * time.Millisecond)
		}
		e.consistent(t, r6.Release)
	})

	t.Run("the client killed at each step: the server reaches one live release by itself", func(t *testing.T) {
		bad := notReadyBinary(t, "hang", "badbadk1")
		e.useDatabase(t, "killdb")
		deployOK(t, e.options(new(bytes.Buffer), appBinary(t, "k0", "ab0de0a0")))
		for _, c := range []struct {
			name, pause, bin string
			// newLive: the release being deployed is live afterwards.
			newLive bool
			// during: kill once the handover unit runs, not at a pause.
			during bool
		}{
			{name: "holding the lock", pause: "locked", bin: appBinary(t, "k1", "ab0de0a1")},
			{name: "mid-upload", pause: "uploading", bin: appBinary(t, "k2", "ab0de0a2")},
			{name: "after the upload", pause: "shipped", bin: appBinary(t, "k3", "ab0de0a3")},
			{name: "before the handover", pause: "handover", bin: appBinary(t, "k4", "ab0de0a4")},
			{name: "after the switch", pause: "switched", newLive: true, bin: appBinary(t, "k5", "ab0de0a5")},
			{name: "during the handover of a release that never gets ready", during: true, bin: bad},
			{name: "during the handover of a slow release", during: true, newLive: true, bin: slowBinary(t, "k7slow", "ab0de0a7", 4)},
		} {
			t.Run(c.name, func(t *testing.T) {
				before := strings.TrimPrefix(e.current(t), "releases/")
				ready := 15 * time.Second
				cl := startClient(t, e, c.bin, ready, c.pause)
				if c.during {
					// The handover's unit, not a backup's (app-handover-backup-...).
					cl.waitServer(t, "systemctl is-active "+strings.Replace(e.svc.HandoverUnit(), "*", "[0-9]*", 1)+" || true", "active")
				} else {
					cl.waitStep(t, c.pause)
				}
				cl.kill(t)
				t.Logf("client output until killed:\n%s", cl.out.String())
				e.settle(t, ready+time.Minute)
				rel := e.releaseOf(t, c.bin)
				if c.newLive {
					e.consistent(t, rel)
				} else {
					e.consistent(t, before, rel)
				}
			})
		}
	})

	t.Run("a server of the layout before instances moves on its next deploy, with no failed request", func(t *testing.T) {
		cur := strings.TrimPrefix(e.current(t), "releases/")
		legacy, err := service.LegacyUnits(e.svc)
		if err != nil {
			t.Fatal(err)
		}
		// Back to what the old provision left: app.service runs current/app.
		e.sh(t, fmt.Sprintf("systemctl disable --now %s && systemctl stop %s %s && rm -f %s/%s %s/%s",
			e.svc.CurrentUnit(), e.svc.InstancePattern(), e.svc.SocketUnit(), service.UnitDir, e.svc.CurrentUnit(), service.UnitDir, e.svc.TemplateUnit()))
		for name, b := range legacy {
			cmd := e.sb.Command(context.Background(), "sh", "-c", "cat > "+service.UnitDir+"/"+name)
			cmd.Stdin = bytes.NewReader(b)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v %s", name, err, out)
			}
		}
		e.sh(t, fmt.Sprintf("systemctl daemon-reload && systemctl enable --now %s && systemctl enable --now %s", e.svc.SocketUnit(), e.svc.ServiceUnit()))
		if live := e.liveInstances(t); len(live) != 0 {
			t.Fatalf("instances on the old layout: %v", live)
		}
		oldPID := e.sh(t, "systemctl show -P MainPID "+e.svc.ServiceUnit())
		load := loadgen.Start(context.Background(), "http://"+e.svc.ListenAddr+"/version", 200)
		var out bytes.Buffer
		res := deployOK(t, e.options(&out, appBinary(t, "m2", "ab0de0c2")))
		lr := load.Stop()
		t.Logf("deploy onto the old layout: %s\n%s", lr, out.String())
		if lr.Failed > 0 || lr.Answered("ab0de0c2") == 0 {
			t.Errorf("load: %s %v", lr, lr.Answers)
		}
		if oldPID == "0" || !strings.Contains(out.String(), "retired "+e.svc.ServiceUnit()) {
			t.Errorf("the old service (pid %s) was not retired:\n%s", oldPID, out.String())
		}
		if left := e.sh(t, fmt.Sprintf("ls %s/%s 2>/dev/null; systemctl is-active %s || true", service.UnitDir, e.svc.ServiceUnit(), e.svc.ServiceUnit())); left != "inactive" {
			t.Errorf("old service after the move: %q", left)
		}
		if p := e.sh(t, "readlink "+e.svc.PreviousLink()); p != "releases/"+cur {
			t.Errorf("previous %s, want the release the old service ran (%s)", p, cur)
		}
		e.consistent(t, res.Release)
	})

	t.Run("rollback after everything still goes back", func(t *testing.T) {
		var out bytes.Buffer
		cur := strings.TrimPrefix(e.current(t), "releases/")
		if err := Rollback(context.Background(), e.options(&out, ""), ""); err != nil {
			t.Fatalf("rollback: %v\n%s", err, out.String())
		}
		t.Logf("rollback:\n%s", out.String())
		e.consistent(t, "")
		if now := strings.TrimPrefix(e.current(t), "releases/"); now == cur {
			t.Errorf("rollback stayed on %s", cur)
		}
		if base.Release == "" {
			t.Error("no base release")
		}
	})
}

// releaseOf is the release folder holding bin on the server, "" if none.
func (e sandboxEnv) releaseOf(t *testing.T, bin string) string {
	t.Helper()
	art, err := LoadArtifact(bin)
	if err != nil {
		t.Fatal(err)
	}
	return e.sh(t, fmt.Sprintf("cd %s && grep -l %s */app.sha256 2>/dev/null | head -1 | cut -d/ -f1", e.svc.ReleasesDir(), art.SHA256))
}

// client is a deploy running in a process of its own (this test binary,
// re-executed), so it can be killed -9 like a user's deploy.
type client struct {
	cmd   *exec.Cmd
	steps chan string
	out   *bytes.Buffer
	e     sandboxEnv
}

type clientSpec struct {
	Alias, SSHConfig, DeployPath, Listen, Binary, Pause string
	ReadyTimeout                                        time.Duration
	// Backup, when set, makes the client a restore of that backup.
	Backup, AppName string
	// PauseAt pauses at the Nth time the client reaches Pause (0 and 1:
	// the first): a deploy of several hosts (Alias "web-1,web-2") reaches
	// each step once per host.
	PauseAt int
}

const clientEnv = "SLIPWAY_TEST_DEPLOY_CLIENT"

func startClient(t *testing.T, e sandboxEnv, bin string, ready time.Duration, pause string) *client {
	t.Helper()
	return startProcess(t, e, clientEnv, clientSpec{Alias: e.sb.Alias, SSHConfig: e.sb.ConfigPath, DeployPath: e.svc.DeployPath,
		Listen: e.svc.ListenAddr, Binary: bin, Pause: pause, ReadyTimeout: ready})
}

// startProcess re-executes this test binary as a client process with spec
// (JSON) in env, its "step <name>" lines on c.steps.
func startProcess(t *testing.T, e sandboxEnv, env string, spec any) *client {
	t.Helper()
	js, _ := json.Marshal(spec)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env+"="+string(js))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &client{cmd: cmd, steps: make(chan string, 16), out: new(bytes.Buffer), e: e}
	cmd.Stderr = c.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.steps)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "step "); ok {
				c.steps <- name
			}
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return c
}

func (c *client) waitStep(t *testing.T, name string) {
	t.Helper()
	for s := range c.steps {
		if s == name {
			return
		}
	}
	t.Fatalf("the client ended before step %q:\n%s", name, c.out.String())
}

// waitServer waits until cmd on the server prints want.
func (c *client) waitServer(t *testing.T, cmd, want string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for c.e.sh(t, cmd) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%q never printed %q:\n%s", cmd, want, c.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *client) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait()
}

// runClient is the client process: a deploy (or a restore) that prints "step <name>" as it
// goes and stops dead at spec.Pause until it is killed.
func runClient(specJSON string) int {
	var spec clientSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	svc := service.DefaultConfig()
	svc.DeployPath, svc.ListenAddr = spec.DeployPath, spec.Listen
	if spec.AppName != "" {
		svc.AppName = spec.AppName
	}
	no := false
	reached := 0
	o := Options{
		Hosts: strings.Split(spec.Alias, ","), SSHConfig: spec.SSHConfig, Service: svc, Binary: spec.Binary,
		ReadyTimeout: spec.ReadyTimeout, Getenv: func(string) string { return "" }, Stdout: os.Stderr,
		Progress: &no, Who: "killed@ci",
		Step: func(name string) {
			fmt.Printf("step %s\n", name)
			if name != spec.Pause {
				return
			}
			if reached++; reached < spec.PauseAt {
				return
			}
			for {
				time.Sleep(time.Hour)
			}
		},
	}
	var err error
	if spec.Backup != "" {
		_, err = Restore(context.Background(), o, RestoreOptions{Backup: spec.Backup})
	} else {
		_, err = Deploy(context.Background(), o, false)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
