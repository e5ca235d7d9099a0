package adopt

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/sandbox"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/service"
	"github.com/slipway-dev/slipway/internal/slipversion"
	"github.com/slipway-dev/slipway/internal/syncbuf"
)

// shellBaseline is main before issue 27: the last Slipway whose server
// side is shell sent from Go strings (the deploy lock a flock held by a
// server shell while heartbeats arrive, the handover a script in a
// transient <app>-handover-* unit).
const shellBaseline = "207fac87db9ea0818d3ed24d940e9fcb65ea71a4"

// slowStart is how long the baseline's slow release sleeps before it
// starts under systemd: its deploy stays in its handover, holding the lock,
// long enough for this version's client to come in.
const slowStart = 20 * time.Second

// slowStartGo makes the baseline's app a release slow to get ready: under
// systemd as a Type=notify unit (NOTIFY_SOCKET set), as deploy starts it, it
// sleeps slowStart first; `app version`, which deploy runs over SSH to
// check the upload, answers at once.
var slowStartGo = fmt.Sprintf(`package main

import (
	"os"
	"time"
)

func init() {
	if os.Getenv("NOTIFY_SOCKET") != "" {
		time.Sleep(%d * time.Second)
	}
}
`, int(slowStart/time.Second))

// legacyApp is an app of the sandbox set up by the shell-based baseline,
// and the two checkouts with its settings.
type legacyApp struct {
	svc       service.Config
	listen    string // APP_LISTEN
	url       string // its /readyz, the load's target
	old, head *project
}

// TestAShellServerMidDeployIsUpgradedUnderLoad: this version deploys over
// servers of the shell-based Slipway caught mid-deploy by an old client,
// under 200 req/s with 0 failed requests, each mid-state on an app of its
// own (an app this version has never touched). (a) The old client holds
// the deploy lock: this version refuses naming the holder (DEPLOY_LOCK_WAIT
// 0, as documented), and with DEPLOY_LOCK_WAIT waits for it; never are two
// handovers running at once. (b) The old client was killed -9 mid-handover,
// its app-handover unit left running: this version waits for that unit to
// end before its own. Then status reads what both versions wrote (current,
// previous, deploy.log), and rollback brings back the old release.
func TestAShellServerMidDeployIsUpgradedUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("two checkouts and the sandbox: skipped with -short")
	}
	start := time.Now()
	sb := sandboxtest.Get(t)
	oldTree, headTree := checkout(t, shellBaseline), checkout(t, "HEAD")
	headCommit := gitRev(t, "HEAD")
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	app := func(name string) *legacyApp {
		svc := service.DefaultsFor(name)
		listen := pickListen(t)
		env := sandboxSettings(sb, listen, "APP_NAME="+name, "GOFLAGS=-buildvcs=false", "DEPLOY_LOCK_WAIT=2m")
		removeApp(t, sb, name, svc.DeployPath)
		return &legacyApp{svc: svc, listen: listen, url: "http://" + listen + "/readyz", old: oldTree.with(env...), head: headTree.with(env...)}
	}
	held, orphaned := app("heldlock"), app("orphan")
	apps := []*legacyApp{held, orphaned}
	var slowCommit string

	step("the shell-based baseline provisions two apps and deploys them; then a release slow to get ready", func(t *testing.T) {
		held.old.mustMage(t, "buildApp")
		for _, a := range apps {
			a.old.mustMage(t, "provision")
			db := appDatabase(t, sb, a.svc.AppName)
			writeEnv(t, sb, a.svc.EnvFile(), "DATABASE_URL="+db+"\nPASSWORD_PEPPER=adopt-pepper-0123456789abcdef\n")
			a.old.mustMage(t, "deploy")
			if got := sandboxtest.Serving(t, a.listen).Commit; got != shellBaseline {
				t.Fatalf("%s serves %s, want the baseline %s", a.svc.AppName, got, shellBaseline)
			}
		}
		if err := os.WriteFile(filepath.Join(oldTree.dir, "cmd", "app", "slowstart.go"), []byte(slowStartGo), 0o644); err != nil {
			t.Fatal(err)
		}
		slowCommit = oldTree.commit(t, "a release slow to get ready")
		held.old.mustMage(t, "buildApp")
		held.head.mustMage(t, "buildApp")
	})

	step("(a) an old deploy holds the lock: refused naming the holder, waited for with DEPLOY_LOCK_WAIT, one handover at a time", func(t *testing.T) {
		a := held
		w := watchHandovers(t, sb, a.svc)
		var holder, refused, waited, oldOut string
		var refusedErr, waitedErr, oldErr error
		var from time.Time
		underLoad(t, a.url, "(a)", func() {
			old := a.old.start(t, "deploy")
			w.waitAny(t, time.Minute)
			holder = strings.TrimSpace(sandboxtest.Run(t, sb, "cat", path.Join(a.svc.DeployPath, ".deploy.lock.info")))
			if holder == "" {
				t.Fatal("the old client holds the lock but wrote no .deploy.lock.info")
			}
			// Both while the old client holds the lock. One after the
			// other: two `go run mage.go` in one folder at once race on
			// mage's generated file, so the second starts once the first
			// has met the lock (it names the holder).
			from = time.Now()
			// MAGEFILE_HASHFAST: mage runs the binary buildApp compiled
			// instead of linking it again (about 1 s a run here).
			head := a.head.with("MAGEFILE_HASHFAST=1")
			waiting := head.start(t, "deploy")
			for deadline := time.Now().Add(time.Minute); !strings.Contains(waiting.out.String(), holder); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("HEAD's deploy with DEPLOY_LOCK_WAIT never named the old client's lock (%s):\n%s", holder, waiting.out.String())
				}
			}
			refused, refusedErr = head.with("DEPLOY_LOCK_WAIT=0").mage(t, "deploy")
			waited, waitedErr = waiting.wait()
			oldOut, oldErr = old.wait()
		})
		seen := w.stop()
		if oldErr != nil {
			t.Errorf("the old client's deploy: %v\n%s", oldErr, oldOut)
		}
		if refusedErr == nil || !strings.Contains(refused, holder) {
			t.Errorf("deploy with DEPLOY_LOCK_WAIT=0 while the old client holds the lock (%s): %v, want a refusal naming it:\n%s", holder, refusedErr, refused)
		}
		if waitedErr != nil {
			t.Fatalf("deploy with DEPLOY_LOCK_WAIT=2m after the old client: %v\n%s", waitedErr, waited)
		}
		if !strings.Contains(waited, holder) {
			t.Errorf("deploy with DEPLOY_LOCK_WAIT=2m never met the old client's lock (%s): lengthen slowStart\n%s", holder, waited)
		}
		oneAtATime(t, seen, from)
		a.consistent(t, a.status(t), headCommit, slowCommit)
	})

	step("(b) an old deploy killed -9 mid-handover: its unit runs on, and this version's switch waits for it to end", func(t *testing.T) {
		a := orphaned
		w := watchHandovers(t, sb, a.svc)
		var out string
		var err error
		var from time.Time
		underLoad(t, a.url, "(b)", func() {
			old := a.old.start(t, "deploy")
			unit := w.waitAny(t, time.Minute)
			old.kill()
			old.wait()
			if st, _ := sb.Run(t.Context(), "systemctl", "is-active", unit); !slices.Contains([]string{"active", "activating"}, strings.TrimSpace(st)) {
				t.Fatalf("the old handover %s is %q once its client is killed: want it running (lengthen slowStart)", unit, strings.TrimSpace(st))
			}
			from = time.Now()
			out, err = a.head.mage(t, "deploy")
		})
		seen := w.stop()
		if err != nil {
			t.Fatalf("deploy right after the old client was killed mid-handover: %v\n%s", err, out)
		}
		oneAtATime(t, seen, from)
		// The orphaned handover switched to the slow release by itself,
		// then this version switched from it.
		a.consistent(t, a.status(t), headCommit, slowCommit)
	})

	step("status reads what both versions wrote; rollback brings back the old release under 200 req/s", func(t *testing.T) {
		for _, a := range apps {
			st := a.status(t)
			if st.Slipway.Version != slipversion.Version || st.Lock != "" {
				t.Errorf("%s: status says slipway %q, lock %q; want %s and free", a.svc.AppName, st.Slipway.Version, st.Lock, slipversion.Version)
			}
			// Each deploy's line, whichever version wrote it, with its
			// outcome: the baseline's two (the orphaned handover wrote
			// its own) and this version's.
			for _, c := range []string{shellBaseline, slowCommit, headCommit} {
				if !slices.ContainsFunc(st.DeployLog, func(l string) bool {
					return strings.Contains(l, " commit="+c+" ") && strings.Contains(l, " result=ok")
				}) {
					t.Errorf("%s: deploy.log has no line of a deploy of %s with result=ok:\n%s", a.svc.AppName, c, strings.Join(st.DeployLog, "\n"))
				}
			}
			for _, l := range st.DeployLog {
				if at, _, _ := strings.Cut(l, " "); !strings.Contains(l, " result=") || !validTime(at) {
					t.Errorf("%s: deploy.log line not in the format status reads (time, kind, key=value..., result=): %q", a.svc.AppName, l)
				}
			}
			underLoad(t, a.url, a.svc.AppName+"'s rollback", func() { a.head.mustMage(t, "rollback") })
			a.consistent(t, a.status(t), slowCommit, headCommit)
		}
	})
	t.Logf("the upgrade mid-deploy from the shell-based baseline, checkouts to rollback: %s", time.Since(start).Round(time.Second))
}

func validTime(s string) bool {
	_, err := time.Parse(time.RFC3339, s)
	return err == nil
}

// with is p with more settings, which win.
func (p *project) with(kv ...string) *project {
	return &project{dir: p.dir, env: append(slices.Clone(p.env), kv...)}
}

// status is this version's `status -json` of the app.
func (a *legacyApp) status(t testing.TB) deploy.HostStatus {
	t.Helper()
	out := a.head.mustMage(t, "status", "-json")
	var r deploy.StatusReport
	if i := strings.Index(out, "{"); i < 0 || json.Unmarshal([]byte(out[i:]), &r) != nil || len(r.Hosts) != 1 {
		t.Fatalf("%s: status -json is not one host's report:\n%s", a.svc.AppName, out)
	}
	return r.Hosts[0]
}

// consistent checks what must hold after each step: current is a release
// of commit cur and serves it, alone; previous is a release of prev and
// not current.
func (a *legacyApp) consistent(t testing.TB, st deploy.HostStatus, cur, prev string) {
	t.Helper()
	commitOf := map[string]string{}
	for _, r := range st.Releases {
		commitOf[r.ID] = r.Version.Commit
	}
	if st.Current == "" || st.Previous == st.Current || commitOf[st.Current] != cur || commitOf[st.Previous] != prev {
		t.Errorf("%s: current %s (commit %s), previous %s (commit %s); want releases of %s and %s", a.svc.AppName,
			st.Current, commitOf[st.Current], st.Previous, commitOf[st.Previous], cur, prev)
	}
	if st.Serving.Version.Commit != cur || !st.Serving.Ready {
		t.Errorf("%s serves %+v, want commit %s, ready", a.svc.AppName, st.Serving, cur)
	}
	var live []string
	for _, in := range st.Instances {
		if in.Live {
			live = append(live, in.Release)
		}
	}
	if len(live) != 1 || live[0] != st.Current {
		t.Errorf("%s: live instances of %v, want only current's %s", a.svc.AppName, live, st.Current)
	}
}

// handoverWatch polls an app's handover units (service.Config.HandoverUnit,
// the pattern both versions name them by) and records when each was seen
// running: how a test sees two deploys' switches overlap.
type handoverWatch struct {
	mu   sync.Mutex
	seen map[string]*span
	quit chan struct{}
	done chan struct{}
}

// span is when a unit was first and last seen running.
type span struct{ first, last time.Time }

// watchHandovers polls sb every 50 ms until stop.
func watchHandovers(t testing.TB, sb *sandbox.Instance, svc service.Config) *handoverWatch {
	w := &handoverWatch{seen: map[string]*span{}, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			out, err := sb.Run(t.Context(), "systemctl", "list-units", "--all", "--plain", "--no-legend",
				"--state=active,activating,deactivating", svc.HandoverUnit())
			now := time.Now()
			w.mu.Lock()
			for line := range strings.Lines(out) {
				if f := strings.Fields(line); err == nil && len(f) > 0 {
					if s := w.seen[f[0]]; s != nil {
						s.last = now
					} else {
						w.seen[f[0]] = &span{now, now}
					}
				}
			}
			w.mu.Unlock()
			select {
			case <-w.quit:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { w.stop() })
	return w
}

// waitAny waits for a handover unit to run and returns its name.
func (w *handoverWatch) waitAny(t testing.TB, within time.Duration) string {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		w.mu.Lock()
		for u := range w.seen {
			w.mu.Unlock()
			return u
		}
		w.mu.Unlock()
	}
	t.Fatalf("no handover unit ran within %s", within)
	return ""
}

// stop ends the polls and returns what they saw.
func (w *handoverWatch) stop() map[string]span {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	<-w.done
	seen := map[string]span{}
	for u, s := range w.seen {
		seen[u] = *s
	}
	return seen
}

// oneAtATime checks that the handover units first seen before from (the
// old client's) had all ended when the first one after it (this version's)
// started, and that there were both.
func oneAtATime(t testing.TB, seen map[string]span, from time.Time) {
	t.Helper()
	var old, new []string
	for u, s := range seen {
		if s.first.Before(from) {
			old = append(old, u)
		} else {
			new = append(new, u)
		}
	}
	if len(old) == 0 || len(new) == 0 {
		t.Fatalf("handover units seen: %v before this version's deploy, %v after: want both", old, new)
	}
	for _, o := range old {
		for _, n := range new {
			if !seen[o].last.Before(seen[n].first) {
				t.Errorf("the old client's handover %s (seen until %s) and this version's %s (from %s) ran at once",
					o, seen[o].last.Format(time.StampMilli), n, seen[n].first.Format(time.StampMilli))
			}
		}
	}
	t.Logf("handovers one at a time: the old client's %v, then this version's %v", old, new)
}

// started is a `go run mage.go` left running in a process group of its
// own, so that kill reaches go run's children too (the magefile's binary,
// which holds the SSH connection).
type started struct {
	cmd  *exec.Cmd
	out  syncbuf.Buffer
	done chan struct{}
	err  error
}

// start starts `go run mage.go args...` in the project; the test's end
// kills what is left of it.
func (p *project) start(t testing.TB, args ...string) *started {
	t.Helper()
	s := &started{cmd: exec.Command("go", append([]string{"run", "mage.go"}, args...)...), done: make(chan struct{})}
	s.cmd.Dir, s.cmd.Env = p.dir, p.env
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s.cmd.WaitDelay = 10 * time.Second
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.kill(); <-s.done })
	return s
}

// kill sends SIGKILL to the whole process group, as a crash or kill -9 of
// the user's terminal would.
func (s *started) kill() { _ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL) }

// wait waits for the command's end and returns its output.
func (s *started) wait() (string, error) {
	<-s.done
	return s.out.String(), s.err
}
