package deploy

// An app on two hosts behind a load balancer, sharing one database: two
// private sandboxes on one network (web-1 holds PostgreSQL, reached by
// web-2 over TCP with TLS verify-full), Caddy on this machine in front of
// both, health-checking /readyz (internal/lb). Deploy, the failure of one
// host half way, restore, rollback and a client killed between the hosts,
// as docs/deploy.md's "Several hosts" says they go.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	loadgen "github.com/slipway-dev/slipway/internal/bench/load"
	"github.com/slipway-dev/slipway/internal/envfile"
	"github.com/slipway-dev/slipway/internal/freeport"
	"github.com/slipway-dev/slipway/internal/lb"
	"github.com/slipway-dev/slipway/internal/sandbox"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest/apptest"
	"github.com/slipway-dev/slipway/internal/service"
)

// The two hosts' addresses on the package's private network.
const (
	web1Host = 2
	web2Host = 3
	appPort  = 8080
)

// notReadyHere is testdata/notready's NotReadyHere.
const notReadyHere = "/etc/slipway-test-not-ready-here"

// severalHosts is the rig: the hosts as the tests reach them (each one's
// svc.ListenAddr is its own address) and the options of a deploy to both.
type severalHosts struct {
	web1, web2 sandboxEnv
	sshConfig  string
	svc        service.Config // as deployed: every host listens on :8080
	lb         *lb.Balancer
}

func newSeveralHosts(t *testing.T) *severalHosts {
	t.Helper()
	nw := sandboxtest.Network(t)
	s1, s2 := sandboxtest.Private(t, web1Host), sandboxtest.Private(t, web2Host)
	svc := service.DefaultConfig()
	svc.AppName, svc.DeployPath = "multi", "/srv/multi"
	url2 := serveDatabaseOverTLS(t, s1, nw.Addr(web1Host), netip.PrefixFrom(nw.Addr(web2Host), 32), "app", s2)
	a := apptest.Installed(t, s1, svc, apptest.Options{})
	b := apptest.Installed(t, s2, svc, apptest.Options{DatabaseURL: url2})
	// provision's firewall lets in SSH, 80 and 443: web-1 opens the
	// database to web-2, both the app's port to the load balancer.
	for _, h := range []struct {
		app   *apptest.App
		ports []int
	}{{a, []int{5432, appPort}}, {b, []int{appPort}}} {
		var out bytes.Buffer
		if _, err := service.ProvisionWith(context.Background(), h.app.Client, h.app.Service,
			service.ProvisionOptions{Basics: service.Basics{FirewallPorts: h.ports}}, &out); err != nil {
			t.Fatalf("provision %s with ports %v: %v\n%s", h.app.Sandbox.Host, h.ports, err, out.String())
		}
	}
	// web-2's own PostgreSQL off: whatever works there works on web-1's.
	sandboxtest.Run(t, s2, "systemctl", "stop", "postgresql")

	r := &severalHosts{svc: a.Service}
	r.svc.ListenAddr = net.JoinHostPort("0.0.0.0", strconv.Itoa(appPort))
	for _, h := range []struct {
		e  *sandboxEnv
		sb *sandbox.Instance
	}{{&r.web1, s1}, {&r.web2, s2}} {
		h.e.sb, h.e.svc = h.sb, r.svc
		h.e.svc.ListenAddr = net.JoinHostPort(h.sb.Host, strconv.Itoa(appPort))
	}
	var cfg strings.Builder
	for alias, sb := range map[string]*sandbox.Instance{"web-1": s1, "web-2": s2} {
		b, err := os.ReadFile(sb.ConfigPath)
		if err != nil {
			t.Fatal(err)
		}
		cfg.WriteString(strings.Replace(string(b), "Host "+sb.Alias+"\n", "Host "+alias+"\n", 1))
	}
	r.sshConfig = filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(r.sshConfig, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	port, err := freeport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	if r.lb, err = lb.Start(context.Background(), t.TempDir(), net.JoinHostPort(nw.HostAddr.String(), strconv.Itoa(port)),
		[]string{r.web1.svc.ListenAddr, r.web2.svc.ListenAddr}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.lb.Stop)
	return r
}

// options deploy bin to both hosts (to hosts, when named), output in out.
func (r *severalHosts) options(out *bytes.Buffer, bin string, hosts ...string) Options {
	if len(hosts) == 0 {
		hosts = []string{"web-1", "web-2"}
	}
	o := testOptions(hosts, r.sshConfig, r.svc.DeployPath, out)
	o.Service, o.Binary = r.svc, bin
	o.ReadyTimeout = 60 * time.Second
	o.KeepBackups = 30
	return o
}

// load sends 200 requests/s through the load balancer until stopped.
func (r *severalHosts) load() *loadgen.Load {
	return loadgen.Start(context.Background(), r.lb.URL+"/version", 200)
}

// rows counts what query returns on web-1's database, as the app's role.
func (r *severalHosts) sql(t *testing.T, query string) string {
	t.Helper()
	return r.web1.psql(t, "app", query)
}

// migrationSeries builds n releases of the app, the i-th (from 1) with
// migrations first..first+i-1 more than the tree's, each creating a table
// multi_<version>: from one copy of the tree, migrations added one by one.
func migrationSeries(t *testing.T, first, n int, commitPrefix string) []string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	src := filepath.Join(t.TempDir(), "src")
	cp := exec.Command("sh", "-c", `mkdir -p "$1" && tar -C ../.. --exclude=./.git --exclude=./bin -cf - . | tar -C "$1" -xf -`, "copy", src)
	if b, err := cp.CombinedOutput(); err != nil {
		t.Fatalf("copy the tree: %v\n%s", err, b)
	}
	var bins []string
	for i := range n {
		v := first + i
		sql := fmt.Sprintf("-- +goose Up\nCREATE TABLE multi_%d (id bigint PRIMARY KEY, note text NOT NULL DEFAULT '');\n\n-- +goose Down\nDROP TABLE multi_%d;\n", v, v)
		if err := os.WriteFile(filepath.Join(src, "migrations", fmt.Sprintf("%05d_multi_%d.sql", v, v)), []byte(sql), 0o644); err != nil {
			t.Fatal(err)
		}
		bins = append(bins, buildIn(t, src, "./cmd/app", fmt.Sprintf("m%d", v), fmt.Sprintf("%s%04d", commitPrefix, v)))
	}
	return bins
}

// both checks each host by itself (one live instance, of the release
// current names, in any generation: env:set starts the same release
// again; serving its commit) and that they run rel1 and rel2 (by release
// id; "" skips).
func (r *severalHosts) both(t *testing.T, rel1, rel2 string) {
	t.Helper()
	for _, h := range []struct {
		e    sandboxEnv
		want string
	}{{r.web1, rel1}, {r.web2, rel2}} {
		cur := strings.TrimPrefix(h.e.current(t), "releases/")
		if h.want != "" && cur != h.want {
			t.Errorf("%s: current is %s, want %s", h.e.sb.Host, cur, h.want)
		}
		live := h.e.liveInstances(t)
		if len(live) != 1 || (live[0] != h.e.svc.InstanceUnit(cur) && !strings.HasPrefix(live[0], strings.TrimSuffix(h.e.svc.InstanceUnit(cur), ".service")+".g")) {
			t.Errorf("%s: live instances %v, want one of release %s", h.e.sb.Host, live, cur)
		}
		commit := h.e.sh(t, "sed -n 's/^commit //p' "+h.e.svc.ReleasesDir()+"/"+cur+"/app.version")
		if got := h.e.servingCommit(t); got != commit {
			t.Errorf("%s: serving commit %s, current release %s has %s", h.e.sb.Host, got, cur, commit)
		}
	}
}

// commits are the commits web-1 and web-2 serve.
func (r *severalHosts) commits(t *testing.T) [2]string {
	return [2]string{r.web1.servingCommit(t), r.web2.servingCommit(t)}
}

func TestSeveralHostsBehindALoadBalancer(t *testing.T) {
	r := newSeveralHosts(t)
	ctx := context.Background()
	const first, n = 201, 10
	series := migrationSeries(t, first, n+1, "5e")
	base := appBinary(t, "m0", "5e000000")

	var out bytes.Buffer
	if _, err := Deploy(ctx, r.options(&out, base), false); err != nil {
		t.Fatalf("first deploy: %v\n%s", err, out.String())
	}
	if err := r.lb.WaitHealthy(ctx, "/version", 6, time.Minute); err != nil {
		t.Fatalf("%v\ncaddy:\n%s", err, r.lb.Output())
	}

	t.Run("10 deploys with a migration each under 200 req/s: none fails, each migration runs once, one backup each", func(t *testing.T) {
		backupsBefore := len(r.web1.backups(t))
		load := r.load()
		var both, one []time.Duration
		for i, bin := range series[:n] {
			var out bytes.Buffer
			o := r.options(&out, bin)
			var mu sync.Mutex
			var locked []time.Time
			o.Step = func(name string) {
				if name == "locked" {
					mu.Lock()
					locked = append(locked, time.Now())
					mu.Unlock()
				}
			}
			start := time.Now()
			res, err := Deploy(ctx, o, false)
			took := time.Since(start)
			if err != nil || len(res) != 2 || len(locked) != 2 {
				load.Stop()
				t.Fatalf("deploy %d: %v (%d hosts locked)\n%s", i+1, err, len(locked), out.String())
			}
			both = append(both, took)
			// web-1's part: up to web-2's lock (its connection included).
			one = append(one, locked[1].Sub(start))
			if i == 0 {
				t.Logf("deploy to two hosts:\n%s", out.String())
			}
		}
		lr := load.Stop()
		t.Logf("%d deploys to 2 hosts through the load balancer: %s", n, lr)
		t.Logf("wall time per deploy: 2 hosts median %s (min %s, max %s); web-1's part (what 1 host takes) median %s (min %s, max %s)",
			median(both), slices.Min(both), slices.Max(both), median(one), slices.Min(one), slices.Max(one))
		if lr.Failed > 0 {
			t.Errorf("failed requests through the load balancer: %s", lr)
		}
		want := fmt.Sprintf("5e%04d", first+n-1)
		if c := r.commits(t); c[0] != want || c[1] != want {
			t.Errorf("serving %v, want %s on both", c, want)
		}
		r.both(t, "", "")
		if got := r.sql(t, fmt.Sprintf("SELECT count(*) || ' ' || count(DISTINCT version_id) FROM goose_db_version WHERE version_id BETWEEN %d AND %d", first, first+n-1)); got != fmt.Sprintf("%d %d", n, n) {
			t.Errorf("goose_db_version rows of the %d migrations (rows, distinct): %s, want each once", n, got)
		}
		if got := len(r.web1.backups(t)) - backupsBefore; got != n {
			t.Errorf("web-1 has %d new backups, want one per deploy (%d)", got, n)
		}
		if got := r.web2.sh(t, "ls "+r.svc.DeployPath+"/backups 2>/dev/null | wc -l"); got != "0" {
			t.Errorf("web-2 holds %s backup files: the shared database is backed up on web-1 only", got)
		}
	})

	t.Run("rollback: both hosts back to one build, then forward again", func(t *testing.T) {
		var out bytes.Buffer
		if err := Rollback(ctx, r.options(&out, ""), ""); err != nil {
			t.Fatalf("rollback: %v\n%s", err, out.String())
		}
		back := fmt.Sprintf("5e%04d", first+n-2)
		if c := r.commits(t); c[0] != back || c[1] != back {
			t.Errorf("after the rollback: %v, want %s on both", c, back)
		}
		r.both(t, "", "")
		out.Reset()
		if _, err := Deploy(ctx, r.options(&out, series[n-1]), false); err != nil {
			t.Fatalf("deploy again: %v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "no upload") {
			t.Errorf("the release rolled back from was uploaded again:\n%s", out.String())
		}
	})

	t.Run("a host down is out of the load balancer's rotation: no request fails", func(t *testing.T) {
		r.web2.sh(t, fmt.Sprintf("systemctl stop %s %s %s", r.svc.SocketUnit(), r.svc.CurrentUnit(), r.svc.InstancePattern()))
		time.Sleep(3 * lb.HealthInterval)
		load := r.load()
		time.Sleep(2 * time.Second)
		lr := load.Stop()
		t.Logf("web-2 down: %s", lr)
		if lr.Failed > 0 || lr.Sent == 0 {
			t.Errorf("through the load balancer with web-2 down: %s", lr)
		}
		r.web2.sh(t, fmt.Sprintf("systemctl start %s %s", r.svc.SocketUnit(), r.svc.CurrentUnit()))
		if err := r.lb.WaitHealthy(ctx, "/version", 6, time.Minute); err != nil {
			t.Fatal(err)
		}
		r.web2.settle(t, time.Minute)
		r.both(t, "", "")
	})

	t.Run("a release never ready on web-2: none fails, web-1 new, web-2 old, one line naming web-2; the next deploy converges", func(t *testing.T) {
		old2 := strings.TrimPrefix(r.web2.current(t), "releases/")
		bad := notReadyBinary(t, "readyunless", "5ebad001")
		r.web2.sh(t, "touch "+notReadyHere)
		defer r.web2.sh(t, "rm -f "+notReadyHere)
		var out bytes.Buffer
		o := r.options(&out, bad)
		o.ReadyTimeout = 10 * time.Second
		backups := len(r.web1.backups(t))
		load := r.load()
		_, err := Deploy(ctx, o, false)
		lr := load.Stop()
		t.Logf("deploy failing on web-2: %v\nload: %s", err, lr)
		if err == nil {
			t.Fatalf("a release never ready on web-2 deployed:\n%s", out.String())
		}
		if line, _, _ := strings.Cut(err.Error(), "\n"); line != "deploy failed on web-2 (2 of 2): web-1 on the new release, web-2 on what it ran; the next good run brings every host to one release" {
			t.Errorf("first line %q", line)
		}
		if lr.Failed > 0 {
			t.Errorf("failed requests through the load balancer: %s", lr)
		}
		r.both(t, r.web1.releaseOf(t, bad), old2)
		if c := r.commits(t); c[0] != "5ebad001" || c[1] == "5ebad001" {
			t.Errorf("serving %v, want web-1 on the new release, web-2 on its old one", c)
		}

		// Rows of the data as it is before the next migration: the
		// restore below brings them back.
		r.sql(t, fmt.Sprintf("INSERT INTO multi_%d (id, note) SELECT g, 'kept' FROM generate_series(1, 50) g", first))
		out.Reset()
		r.web2.sh(t, "rm -f "+notReadyHere)
		load = r.load()
		if _, err := Deploy(ctx, r.options(&out, series[n]), false); err != nil {
			load.Stop()
			t.Fatalf("the next deploy: %v\n%s", err, out.String())
		}
		lr = load.Stop()
		t.Logf("the next deploy: %s", lr)
		if lr.Failed > 0 {
			t.Errorf("failed requests: %s", lr)
		}
		want := fmt.Sprintf("5e%04d", first+n)
		if c := r.commits(t); c[0] != want || c[1] != want {
			t.Errorf("serving %v after the next deploy, want %s on both", c, want)
		}
		r.both(t, "", "")
		// No migration in the failed deploy, one in the next: one backup.
		if got := len(r.web1.backups(t)) - backups; got != 1 {
			t.Errorf("web-1 has %d new backups, want 1 (of the next deploy's migration)", got)
		}
		if got := r.web2.sh(t, "ls "+r.svc.DeployPath+"/backups 2>/dev/null | wc -l"); got != "0" {
			t.Errorf("web-2 holds %s backup files", got)
		}
	})

	t.Run("restore: both hosts on the release matching the backup, rows back", func(t *testing.T) {
		back := fmt.Sprintf("5e%04d", first+n-1)
		var out bytes.Buffer
		// The deploy of series[n] backed up the database before its
		// migration: schema first+n-1, the 50 rows in it.
		var b string
		for _, bk := range r.web1.backups(t) {
			if bk.Kind == "deploy" && bk.Schema == int64(first+n-1) {
				b = bk.ID
				break
			}
		}
		if b == "" {
			t.Fatalf("no deploy backup at schema %d on web-1: %+v", first+n-1, r.web1.backups(t))
		}
		r.sql(t, fmt.Sprintf("DELETE FROM multi_%d", first))
		out.Reset()
		res, err := Restore(ctx, r.options(&out, ""), RestoreOptions{Backup: b})
		t.Logf("restore:\n%s", out.String())
		if err != nil {
			t.Fatalf("restore: %v", err)
		}
		if c := r.commits(t); c[0] != back || c[1] != back {
			t.Errorf("after the restore: %v, want %s (the release matching schema %d) on both", c, back, first+n-1)
		}
		if res.Releases["web-1"] == "" || res.Releases["web-2"] == "" {
			t.Errorf("result %+v", res)
		}
		r.both(t, res.Releases["web-1"], res.Releases["web-2"])
		if got := r.sql(t, fmt.Sprintf("SELECT count(*) FROM multi_%d WHERE note = 'kept'", first)); got != "50" {
			t.Errorf("%s rows back, want 50", got)
		}
		if got := r.sql(t, "SELECT max(version_id) FROM goose_db_version"); got != strconv.Itoa(first+n-1) {
			t.Errorf("schema %s after the restore, want %d", got, first+n-1)
		}
		out.Reset()
		if err := Status(ctx, r.options(&out, ""), 3); err != nil || !strings.Contains(out.String(), "every host runs the same build") {
			t.Errorf("status: %v\n%s", err, out.String())
		}
	})

	t.Run("env:set on both hosts under load: each restarts with it, none fails", func(t *testing.T) {
		var out bytes.Buffer
		load := r.load()
		res, err := SetEnv(ctx, r.options(&out, ""), envfile.Change{Key: "LOG_FORMAT", Value: "json"}, false)
		lr := load.Stop()
		t.Logf("env:set on both: %s", lr)
		if err != nil || len(res) != 2 || res[0].Outcome != EnvChanged || res[1].Outcome != EnvChanged {
			t.Fatalf("env:set: %+v %v\n%s", res, err, out.String())
		}
		if lr.Failed > 0 {
			t.Errorf("failed requests: %s", lr)
		}
		r.both(t, "", "")
	})

	t.Run("the deploy client killed -9 between the hosts: each consistent by itself, the next deploy converges", func(t *testing.T) {
		old2 := strings.TrimPrefix(r.web2.current(t), "releases/")
		bin := appBinary(t, "k12", "5eeeee12")
		cl := startProcess(t, r.web1, clientEnv, clientSpec{Alias: "web-1,web-2", SSHConfig: r.sshConfig, DeployPath: r.svc.DeployPath,
			Listen: r.svc.ListenAddr, AppName: r.svc.AppName, Binary: bin, ReadyTimeout: time.Minute, Pause: "locked", PauseAt: 2})
		cl.waitStep(t, "locked")
		cl.waitStep(t, "locked")
		cl.kill(t)
		t.Logf("client output until killed:\n%s", cl.out.String())
		r.web1.settle(t, time.Minute)
		r.web2.settle(t, time.Minute)
		r.both(t, r.web1.releaseOf(t, bin), old2)
		var out bytes.Buffer
		o := r.options(&out, bin)
		o.LockWait = 30 * time.Second // web-2's lock goes once its server sees the client gone
		res, err := Deploy(ctx, o, false)
		if err != nil {
			t.Fatalf("the next deploy: %v\n%s", err, out.String())
		}
		if res[0].Outcome != OutcomeUnchanged || res[1].Outcome != OutcomeOK {
			t.Errorf("outcomes %s, %s: want web-1 unchanged, web-2 deployed", res[0].Outcome, res[1].Outcome)
		}
		if c := r.commits(t); c[0] != "5eeeee12" || c[1] != "5eeeee12" {
			t.Errorf("serving %v, want 5eeeee12 on both", c)
		}
		r.both(t, "", "")
	})
}

// median of ds (not empty).
func median(ds []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(ds))
	return s[len(s)/2]
}
