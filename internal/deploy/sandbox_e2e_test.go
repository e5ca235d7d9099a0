package deploy

// End-to-end on the sandbox: a real Debian server with systemd and sshd,
// provisioned by internal/service, deployed to over real SSH.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	loadgen "github.com/slipway-dev/slipway/internal/bench/load"
	"github.com/slipway-dev/slipway/internal/remote/sshdtest"
	"github.com/slipway-dev/slipway/internal/sandbox"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest/apptest"
	"github.com/slipway-dev/slipway/internal/service"
	"github.com/slipway-dev/slipway/internal/slipversion"
)

type sandboxEnv struct {
	sb  *sandbox.Instance
	svc service.Config
}

// provisioned returns the sandbox with the app's service set up on a free
// port and its DATABASE_URL written.
func provisioned(t *testing.T) sandboxEnv {
	t.Helper()
	return provisionedAs(t, service.DefaultConfig())
}

// provisionedAs is provisioned for the app svc describes (its own name and
// deploy path keep it apart from the other tests' app on the shared sandbox).
func provisionedAs(t *testing.T, svc service.Config) sandboxEnv {
	t.Helper()
	return provisionedOn(t, sandboxtest.Get(t), svc)
}

// provisionedOn is provisionedAs on the sandbox sb.
func provisionedOn(t *testing.T, sb *sandbox.Instance, svc service.Config) sandboxEnv {
	t.Helper()
	return sandboxEnv{sb: sb, svc: apptest.Installed(t, sb, svc, apptest.Options{}).Service}
}

func (e sandboxEnv) options(out *bytes.Buffer, bin string) Options {
	o := testOptions([]string{e.sb.Alias}, e.sb.ConfigPath, e.svc.DeployPath, out)
	o.Service = e.svc
	o.Binary = bin
	o.ReadyTimeout = 60 * time.Second
	return o
}

// servingCommit asks the app directly (the sandbox shares our network).
func (e sandboxEnv) servingCommit(t *testing.T) string {
	t.Helper()
	return sandboxtest.Serving(t, e.svc.ListenAddr).Commit
}

func (e sandboxEnv) sh(t *testing.T, script string) string {
	t.Helper()
	return strings.TrimSpace(sandboxtest.Run(t, e.sb, "sh", "-c", script))
}

func (e sandboxEnv) current(t *testing.T) string {
	return e.sh(t, "readlink "+e.svc.CurrentLink())
}

func deployOK(t *testing.T, o Options) Result {
	t.Helper()
	res, err := Deploy(context.Background(), o, false)
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, o.Stdout.(*bytes.Buffer).String())
	}
	return res[0]
}

func TestDeployOnSandbox(t *testing.T) {
	e := provisioned(t)
	v1, v2, v3 := appBinary(t, "v1", "c0ffee01"), appBinary(t, "v2", "c0ffee02"), appBinary(t, "v3", "c0ffee03")
	hook := newReceiver(t)

	t.Run("first deploy uploads, switches, restarts and serves the new commit", func(t *testing.T) {
		var out bytes.Buffer
		o := e.options(&out, v1)
		o.Notify = hook.notifier(t)
		res := deployOK(t, o)
		if !res.Uploaded || res.Outcome != OutcomeOK || res.Version.Commit != "c0ffee01" {
			t.Errorf("result %+v", res)
		}
		if n := hook.one(t, "deploy", OutcomeOK); n.Host != "sandbox" || n.Version != "v1" || n.Commit != "c0ffee01" || n.Release != res.Release || n.Cause != "" {
			t.Errorf("notification %+v, want the deploy of v1 as release %s", n, res.Release)
		}
		if got := e.servingCommit(t); got != "c0ffee01" {
			t.Errorf("serving %s", got)
		}
		if cur := e.current(t); cur != "releases/"+res.Release {
			t.Errorf("current -> %s, want releases/%s (relative)", cur, res.Release)
		}
		if !strings.Contains(out.String(), "upload 100%") {
			t.Errorf("no progress lines:\n%s", out.String())
		}
		log := e.sh(t, "cat "+e.svc.DeployPath+"/deploy.log")
		if n := strings.Count(log, "\n") + 1; n != 1 || !strings.Contains(log, "result=ok") || !strings.Contains(log, "by=tester@ci") {
			t.Errorf("deploy.log:\n%s", log)
		}
	})

	t.Run("deploy stamps the server's layout in .slipway, as the SSH user, atomically", func(t *testing.T) {
		f := e.svc.DeployPath + "/" + slipversion.File
		if got := e.sh(t, "cat "+f); got+"\n" != string(stampOf(e.svc).Bytes()) {
			t.Errorf("%s holds %q, want %q", f, got, stampOf(e.svc).Bytes())
		}
		if owner := e.sh(t, "stat -c %U "+f); owner != "admin" {
			t.Errorf("%s belongs to %s, want the SSH user admin", f, owner)
		}
		if left := e.sh(t, "ls -A "+e.svc.DeployPath+" | grep '^\\..slipway' || true"); left != "" {
			t.Errorf("temporary stamp files left: %s", left)
		}
	})

	t.Run("a server stamped one layout ahead is refused in one line naming the version; status still reads it", func(t *testing.T) {
		f := e.svc.DeployPath + "/" + slipversion.File
		saved := e.sh(t, "cat "+f)
		t.Cleanup(func() { e.sh(t, "printf '%s\\n' '"+strings.ReplaceAll(saved, "\n", "' '")+"' > "+f) })
		ahead := slipversion.Stamp{Layout: slipversion.Layout + 1, Version: "v9.0.0"}
		e.sh(t, "printf 'layout %s\\nslipway %s\\n' "+strconv.Itoa(ahead.Layout)+" "+ahead.Version+" > "+f)
		before := e.current(t)
		want := "sandbox's layout is version " + strconv.Itoa(ahead.Layout) + ", written by Slipway v9.0.0: this is Slipway " + slipversion.Version + "; upgrade: go get " + slipversion.Module() + "@v9.0.0"
		var out bytes.Buffer
		_, err := Deploy(context.Background(), e.options(&out, v3), false)
		if err == nil || err.Error() != want {
			t.Errorf("deploy: got %v\nwant %s", err, want)
		}
		if err := Rollback(context.Background(), e.options(&out, ""), ""); err == nil || err.Error() != want {
			t.Errorf("rollback: got %v\nwant %s", err, want)
		}
		if cur := e.current(t); cur != before || e.sh(t, "cat "+f) != strings.TrimSpace(string(ahead.Bytes())) {
			t.Errorf("a refused deploy changed the server: current %s (was %s), %s: %s", cur, before, f, e.sh(t, "cat "+f))
		}
		out.Reset()
		if err := Status(context.Background(), e.options(&out, ""), 1); err != nil {
			t.Fatalf("status on a newer layout: %v", err)
		}
		if !strings.Contains(out.String(), "layout    "+ahead.String()) {
			t.Errorf("status doesn't name the server's Slipway:\n%s", out.String())
		}
	})

	t.Run("redeploying the same binary uploads nothing", func(t *testing.T) {
		var out bytes.Buffer
		res := deployOK(t, e.options(&out, v1))
		if res.Uploaded || res.Sent != 0 || res.Outcome != OutcomeUnchanged {
			t.Errorf("result %+v\n%s", res, out.String())
		}
	})

	t.Run("a new version, then back to an old binary: a switch, no upload", func(t *testing.T) {
		var out bytes.Buffer
		r2 := deployOK(t, e.options(&out, v2))
		if got := e.servingCommit(t); got != "c0ffee02" {
			t.Fatalf("serving %s", got)
		}
		r1 := deployOK(t, e.options(&out, v1))
		if r1.Uploaded || e.servingCommit(t) != "c0ffee01" {
			t.Errorf("redeploy of v1: %+v serving %s", r1, e.servingCommit(t))
		}
		if prev := e.sh(t, "readlink "+e.svc.DeployPath+"/previous"); prev != "releases/"+r2.Release {
			t.Errorf("previous -> %s", prev)
		}
		deployOK(t, e.options(&out, v2))
	})

	t.Run("a connection cut mid-upload leaves the current release and no partial file", func(t *testing.T) {
		before := e.current(t)
		proxy := sshdtest.StartProxy(t, fmt.Sprintf("127.0.0.1:%d", e.sb.Port))
		cfg := flakyConfig(t, e.sb, proxy.Port)
		proxy.CutAfter(3 << 20)
		var out bytes.Buffer
		o := e.options(&out, v3)
		o.Hosts, o.SSHConfig = []string{"sandbox-flaky"}, cfg
		_, err := Deploy(context.Background(), o, false)
		if err == nil {
			t.Fatalf("deploy through a cut connection succeeded:\n%s", out.String())
		}
		t.Logf("cut deploy: %v", err)
		if cur := e.current(t); cur != before {
			t.Errorf("current moved: %s -> %s", before, cur)
		}
		if got := e.servingCommit(t); got != "c0ffee02" {
			t.Errorf("serving %s", got)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			left := e.sh(t, "cd "+e.svc.ReleasesDir()+" && ls -A | grep -E '^\\.(upload|new)-' || true")
			if left == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("partial upload left behind: %s", left)
			}
			time.Sleep(100 * time.Millisecond)
		}
		res := deployOK(t, e.options(&out, v3))
		if !res.Uploaded || e.servingCommit(t) != "c0ffee03" {
			t.Errorf("next deploy: %+v", res)
		}
	})

	t.Run("two deploys at once: the second is refused naming the first", func(t *testing.T) {
		v4 := appBinary(t, "v4", "c0ffee04")
		var outA, outB bytes.Buffer
		oa := e.options(&outA, v4)
		oa.Who = "alice@laptop"
		var wg sync.WaitGroup
		var errA error
		wg.Add(1)
		go func() { defer wg.Done(); _, errA = Deploy(context.Background(), oa, false) }()
		info := e.svc.DeployPath + "/.deploy.lock.info"
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(e.sh(t, "cat "+info+" 2>/dev/null || true"), "alice@laptop") {
			if time.Now().After(deadline) {
				t.Fatal("first deploy never took the lock")
			}
			time.Sleep(20 * time.Millisecond)
		}
		ob := e.options(&outB, v1)
		ob.Who = "bob@desk"
		_, errB := Deploy(context.Background(), ob, false)
		wg.Wait()
		if errA != nil {
			t.Fatalf("first deploy: %v\n%s", errA, outA.String())
		}
		if !errors.Is(errB, ErrLocked) || !strings.Contains(errB.Error(), "alice@laptop deploying") || !strings.Contains(errB.Error(), "since 20") {
			t.Fatalf("second deploy: %v", errB)
		}
		if e.servingCommit(t) != "c0ffee04" {
			t.Error("first deploy's release not serving")
		}
	})

	for _, mode := range []string{"hang", "exit", "unready"} {
		t.Run("a release that never becomes ready ("+mode+") never serves, and the old one never stops", func(t *testing.T) {
			bad := notReadyBinary(t, mode, "badbad0"+mode[:1])
			before, prev := e.current(t), e.sh(t, "readlink "+e.svc.PreviousLink())
			oldUnit := e.svc.InstanceUnit(strings.TrimPrefix(before, "releases/"))
			pid := e.sh(t, "systemctl show -P MainPID "+oldUnit)
			load := loadgen.Start(context.Background(), "http://"+e.svc.ListenAddr+"/version", 100)
			var out bytes.Buffer
			o := e.options(&out, bad)
			o.ReadyTimeout = 15 * time.Second
			o.Notify = hook.notifier(t)
			res, err := Deploy(context.Background(), o, false)
			lr := load.Stop()
			if n := hook.one(t, "deploy", OutcomeRolledBack); n.Release != res[0].Release || !strings.Contains(n.Cause, "not ready") {
				t.Errorf("the automatic rollback's notification %+v lacks its release or cause", n)
			}
			if err == nil {
				t.Fatalf("deploy of a release that never gets ready succeeded:\n%s", out.String())
			}
			msg := err.Error()
			for _, want := range []string{"not ready", "rolled back: release " + strings.TrimPrefix(before, "releases/") + " kept serving", "never getting there", "last log lines of " + e.svc.InstanceUnit(res[0].Release)} {
				if !strings.Contains(msg, want) {
					t.Errorf("error lacks %q:\n%s", want, msg)
				}
			}
			if n := strings.Count(msg, "never getting there"); n != 1 {
				t.Errorf("the instance's log line shows %d times, want once:\n%s", n, msg)
			}
			if res[0].Outcome != OutcomeRolledBack {
				t.Errorf("outcome %q", res[0].Outcome)
			}
			if cur := e.current(t); cur != before {
				t.Errorf("current %s, want %s", cur, before)
			}
			if p := e.sh(t, "readlink "+e.svc.PreviousLink()); p != prev {
				t.Errorf("previous %s, want still %s", p, prev)
			}
			if got := e.sh(t, "systemctl show -P MainPID "+oldUnit); got != pid {
				t.Errorf("old instance's main pid %s, was %s: it was stopped or restarted", got, pid)
			}
			if st := e.sh(t, "systemctl is-active "+e.svc.InstanceUnit(res[0].Release)+" || true"); st != "inactive" {
				t.Errorf("the never-ready instance is %s, want inactive", st)
			}
			if lr.Failed > 0 || lr.Sent < 100 {
				t.Errorf("load during the failed deploy: %s", lr)
			}
			if n := lr.Answered("badbad0"); n > 0 {
				t.Errorf("the never-ready release answered %d requests: %v", n, lr.Answers)
			}
			if last := e.sh(t, "tail -n1 "+e.svc.DeployPath+"/deploy.log"); !strings.Contains(last, "result=rolled-back") {
				t.Errorf("deploy.log: %s", last)
			}
		})
	}

	t.Run("rollback goes to the previous release, or a named one", func(t *testing.T) {
		var out bytes.Buffer
		o := e.options(&out, "")
		o.Notify = hook.notifier(t)
		if err := Rollback(context.Background(), o, ""); err != nil {
			t.Fatalf("rollback: %v\n%s", err, out.String())
		}
		if got := e.servingCommit(t); got != "c0ffee03" {
			t.Errorf("after rollback serving %s, want c0ffee03", got)
		}
		if n := hook.one(t, "rollback", OutcomeOK); n.Version != "v3" || n.Commit != "c0ffee03" || n.Release == "" {
			t.Errorf("rollback notification %+v, want v3", n)
		}
		// Named by a unique prefix of its id: the v4 release.
		id := strings.TrimPrefix(e.sh(t, "readlink "+e.svc.DeployPath+"/previous"), "releases/")
		if err := Rollback(context.Background(), o, id[:20]); err != nil {
			t.Fatalf("rollback to %s: %v\n%s", id, err, out.String())
		}
		if got := e.servingCommit(t); got != "c0ffee04" {
			t.Errorf("after named rollback serving %s", got)
		}
		hook.events()
		if err := Rollback(context.Background(), o, "nosuch"); err == nil || !strings.Contains(err.Error(), "no release") {
			t.Errorf("unknown release: %v", err)
		}
		if n := hook.one(t, "rollback", OutcomeFailed); !strings.Contains(n.Cause, "no release") {
			t.Errorf("refused rollback notification %+v lacks its cause", n)
		}
	})

	t.Run("status shows host, current, serving version, releases, lock and log", func(t *testing.T) {
		var out bytes.Buffer
		if err := Status(context.Background(), e.options(&out, ""), 5); err != nil {
			t.Fatal(err)
		}
		s := out.String()
		cur := strings.TrimPrefix(e.current(t), "releases/")
		for _, want := range []string{"host      sandbox (admin@127.0.0.1:", "layout    " + slipversion.Current().String(), "current   " + cur, "serving   v4 (commit c0ffee04), ready", "  * " + cur, "lock      free", "rollback host=sandbox"} {
			if !strings.Contains(s, want) {
				t.Errorf("status lacks %q:\n%s", want, s)
			}
		}
		t.Logf("status:\n%s", s)

		var js bytes.Buffer
		if err := StatusJSON(context.Background(), e.options(&js, ""), 5); err != nil {
			t.Fatal(err)
		}
		var r StatusReport
		if err := json.Unmarshal(js.Bytes(), &r); err != nil || len(r.Hosts) != 1 {
			t.Fatalf("status -json: %v, want one host:\n%s", err, js.String())
		}
		h := r.Hosts[0]
		var marked []string
		for _, rel := range h.Releases {
			if rel.Current {
				marked = append(marked, rel.ID)
			}
		}
		live := 0
		for _, in := range h.Instances {
			if in.Live {
				live++
				if in.Release != cur || in.MainPID <= 0 || !strings.Contains(in.Status, "commit=c0ffee04") {
					t.Errorf("status -json: the live instance is not the current release's: %+v", in)
				}
			}
		}
		if h.Slipway != (SlipwayStatus{Version: slipversion.Version, Layout: slipversion.Layout}) {
			t.Errorf("status -json: slipway %+v, want this Slipway's stamp", h.Slipway)
		}
		if h.Host != "sandbox" || h.Current != cur || !h.Serving.Ready || h.Serving.Version.Version != "v4" || h.Serving.Version.Commit != "c0ffee04" ||
			live != 1 || h.Lock != "" || len(marked) != 1 || marked[0] != cur ||
			h.Previous == "" || len(h.DeployLog) == 0 || len(h.Journal) == 0 {
			t.Errorf("status -json does not say what status says:\n%s", js.String())
		}
	})

	t.Run("old releases are pruned, never current or previous", func(t *testing.T) {
		var out bytes.Buffer
		o := e.options(&out, appBinary(t, "v5", "c0ffee05"))
		o.Keep = 3
		before := strings.Fields(e.sh(t, "ls "+e.svc.ReleasesDir()))
		deployOK(t, o)
		ls := strings.Fields(e.sh(t, "ls "+e.svc.ReleasesDir()))
		cur, prev := e.current(t), e.sh(t, "readlink "+e.svc.DeployPath+"/previous")
		// The newest three stay, and previous even if older.
		want := map[string]bool{strings.TrimPrefix(prev, "releases/"): true}
		for _, id := range append(before, strings.TrimPrefix(cur, "releases/"))[len(before)+1-3:] {
			want[id] = true
		}
		if len(ls) != len(want) || len(before) < 3 {
			t.Errorf("releases after prune: %v, want %v", ls, want)
		}
		for _, id := range ls {
			if !want[id] {
				t.Errorf("release %s kept: %v", id, ls)
			}
		}
		for _, l := range []string{cur, prev} {
			if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(e.sb.Leader), "root", e.svc.DeployPath, l, "app")); err != nil {
				t.Errorf("%s pruned: %v", l, err)
			}
		}
	})
}

func TestMultiHostStopsAtFirstFailure(t *testing.T) {
	e := provisioned(t)
	cfg, err := os.ReadFile(e.sb.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	// A second alias for the same server whose host key we don't know.
	unknown := strings.Replace(strings.Replace(string(cfg), "Host sandbox", "Host sandbox-unknown", 1), e.sb.KnownHostsPath, "/dev/null", 1)
	p := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(p, append(cfg, unknown...), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	o := e.options(&out, appBinary(t, "m1", "facade01"))
	o.SSHConfig = p

	// Tests share the sandbox: compare with what it held before.
	releases := func() string { return e.sh(t, "ls "+e.svc.ReleasesDir()+" 2>/dev/null || true") }
	before := releases()
	o.Hosts = []string{"sandbox", "typo-host"}
	if _, err := Deploy(context.Background(), o, false); err == nil || !strings.Contains(err.Error(), "typo-host") {
		t.Fatalf("unknown alias in the list: %v", err)
	}
	if after := releases(); after != before {
		t.Errorf("an unknown alias later in the list still let the first host deploy: %s", after)
	}

	// A host that can't be reached, first or last: every host is checked
	// (reached, its database asked) before the first changes.
	for _, hosts := range [][]string{{"sandbox-unknown", "sandbox"}, {"sandbox", "sandbox-unknown"}} {
		o.Hosts = hosts
		res, err := Deploy(context.Background(), o, false)
		if err == nil || !strings.Contains(err.Error(), "sandbox-unknown") || !strings.Contains(err.Error(), "nothing changed on any host (") || len(res) != 0 {
			t.Fatalf("%v: %v (results %+v)", hosts, err, res)
		}
		if after := releases(); after != before {
			t.Errorf("%v: a host was deployed: %s", hosts, after)
		}
	}
}

// flakyConfig writes an ssh config whose alias "sandbox-flaky" reaches the
// sandbox through a proxy on port, with the host key recorded for it.
func flakyConfig(t *testing.T, sb *sandbox.Instance, port int) string {
	t.Helper()
	cfg, err := sb.ConfigVia(t.TempDir(), "sandbox-flaky", port)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
