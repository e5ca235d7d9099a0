package deploy

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	loadgen "github.com/slipway-dev/slipway/internal/bench/load"
	"github.com/slipway-dev/slipway/internal/freeport"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest/apptest"
	"github.com/slipway-dev/slipway/internal/service"
)

// multiRate is the load each app gets while one of them is deployed.
const multiRate = 200

// multiDeploys is how many times the first app is deployed under load.
const multiDeploys = 10

// TestSandboxTwoAppsShareTheServer: two apps with different APP_NAMEs on
// one server, each with the defaults of its name (its own folder, units,
// env file and metrics port); one is deployed again and again under load
// while both take requests: 0 failed on both. A third app pointed at the
// first's DEPLOY_PATH or at the second's port is refused in one line naming
// the other app, and the server is left as it was.
func TestSandboxTwoAppsShareTheServer(t *testing.T) {
	sb := sandboxtest.Get(t)
	ctx := context.Background()
	cl, err := remote.Dial(ctx, remote.Options{Alias: sb.Alias, ConfigPath: sb.ConfigPath, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Names of this run's own: the package's sandbox is shared by its tests.
	suffix := strconv.FormatInt(int64(freeportOrFail(t)), 36)
	apps := []sandboxEnv{}
	for _, n := range []string{"multia", "multib"} {
		svc := service.DefaultsFor(n + suffix)
		// The sandbox's PostgreSQL has one role, app, by peer authentication:
		// both run as its user (each app's own role is provision's, part 1).
		svc.ServiceUser = "app"
		db, err := sb.FreshDatabase(ctx, strings.ReplaceAll(svc.AppName, "-", "_"))
		if err != nil {
			t.Fatal(err)
		}
		// The name's own port may be taken on this machine (the sandbox
		// shares its network): Installed gives a free one, which keeps the
		// test independent of it; the folder, units, env file and metrics
		// port still follow the name.
		svc = apptest.Installed(t, sb, svc, apptest.Options{DatabaseURL: db}).Service
		e := sandboxEnv{sb: sb, svc: svc}
		apps = append(apps, e)
		t.Cleanup(func() {
			e.sh(t, fmt.Sprintf("systemctl stop %s %s %s 2>/dev/null; true", svc.SocketUnit(), svc.CurrentUnit(), svc.InstancePattern()))
		})
	}
	a, b := apps[0], apps[1]
	v1, v2 := appBinary(t, "v1.0.0", "aaaa0001"), appBinary(t, "v2.0.0", "aaaa0002")
	deploy := func(t *testing.T, e sandboxEnv, bin string) {
		t.Helper()
		var out bytes.Buffer
		if _, err := Deploy(ctx, e.options(&out, bin), false); err != nil {
			t.Fatalf("deploy %s: %v\n%s", e.svc.AppName, err, out.String())
		}
	}

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	step("both deployed, each in its own folder, units and metrics port", func(t *testing.T) {
		deploy(t, a, v1)
		deploy(t, b, v1)
		for _, e := range apps {
			if got := e.servingCommit(t); got != "aaaa0001" {
				t.Errorf("%s serves %s", e.svc.AppName, got)
			}
			if e.svc.DeployPath != "/srv/"+e.svc.AppName || !strings.HasPrefix(e.current(t), "releases/") {
				t.Errorf("%s: deploy path %s, current %q", e.svc.AppName, e.svc.DeployPath, e.current(t))
			}
			if got := e.sh(t, "cat "+e.svc.DeployPath+"/.slipway"); !strings.Contains(got, "\napp "+e.svc.AppName) {
				t.Errorf("%s's stamp doesn't name it:\n%s", e.svc.AppName, got)
			}
			inst, _ := e.liveInstance(t)
			env := e.sh(t, "systemctl show -P Environment "+inst)
			if !strings.Contains(env, "METRICS_ADDR="+e.svc.MetricsAddr()) {
				t.Errorf("%s runs with Environment=%q, want its own METRICS_ADDR=%s", inst, env, e.svc.MetricsAddr())
			}
		}
		if a.svc.MetricsAddr() == b.svc.MetricsAddr() || a.svc.EnvFile() == b.svc.EnvFile() {
			t.Errorf("the two apps share a metrics address or an env file: %+v %+v", a.svc, b.svc)
		}
	})

	step(fmt.Sprintf("%d deploys of one under %d req/s to each: 0 failed on both", multiDeploys, multiRate), func(t *testing.T) {
		la := loadgen.Start(ctx, "http://"+a.svc.ListenAddr+"/version", multiRate)
		lb := loadgen.Start(ctx, "http://"+b.svc.ListenAddr+"/version", multiRate)
		for i := range multiDeploys {
			deploy(t, a, []string{v2, v1}[i%2])
		}
		ra, rb := la.Stop(), lb.Stop()
		t.Logf("%s (deployed %d times): %s", a.svc.AppName, multiDeploys, ra)
		t.Logf("%s (serving beside it): %s", b.svc.AppName, rb)
		if ra.Failed != 0 || rb.Failed != 0 || ra.Sent < multiRate || rb.Sent < multiRate {
			t.Errorf("under load: deployed app %s; the other %s; want 0 failed on both", ra, rb)
		}
		if n := rb.Answered("aaaa0002"); n != 0 {
			t.Errorf("the other app answered %d times with the deployed app's release", n)
		}
	})

	// The server's state as far as the apps go: units, folders, stamps, env
	// files, accounts.
	state := func(t *testing.T) string {
		return a.sh(t, `cd /etc/systemd/system && sha256sum *.socket *.service 2>/dev/null; ls -la /srv /srv/* /etc | sha256sum; sha256sum /srv/*/.slipway; getent passwd | sha256sum; systemctl list-units --all --plain --no-legend 'multi*' | awk '{print $1, $3, $4}'`)
	}
	refused := func(t *testing.T, svc service.Config, want string, deployToo bool) {
		t.Helper()
		before := state(t)
		var out bytes.Buffer
		_, err := service.Provision(ctx, cl, svc, &out)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Count(err.Error(), "\n") != 0 {
			t.Errorf("provision %s: %v, want one line with %q\n%s", svc.AppName, err, want, out.String())
		}
		if deployToo {
			e := sandboxEnv{sb: sb, svc: svc}
			_, err := Deploy(ctx, e.options(&out, v1), false)
			if err == nil || !strings.Contains(err.Error(), want) || strings.Count(err.Error(), "\n") != 0 {
				t.Errorf("deploy %s: %v, want one line with %q\n%s", svc.AppName, err, want, out.String())
			}
			t.Logf("deploy refused: %v", err)
		}
		t.Logf("refused: %v", err)
		if after := state(t); after != before {
			t.Errorf("the server changed:\nbefore\n%s\nafter\n%s", before, after)
		}
	}
	t.Run("a third app in the first's DEPLOY_PATH is refused, nothing changed", func(t *testing.T) {
		c := service.DefaultsFor("multic" + suffix)
		c.ListenAddr = "127.0.0.1:" + strconv.Itoa(freeportOrFail(t))
		c.DeployPath = a.svc.DeployPath
		refused(t, c, "DEPLOY_PATH="+a.svc.DeployPath+" is app "+a.svc.AppName+"'s", true)
	})
	t.Run("a third app on the second's port is refused, nothing changed", func(t *testing.T) {
		c := service.DefaultsFor("multic" + suffix)
		c.ListenAddr = b.svc.ListenAddr
		refused(t, c, "APP_LISTEN="+b.svc.ListenAddr+": port "+strings.TrimPrefix(b.svc.ListenAddr, "127.0.0.1:")+" is app "+b.svc.AppName+"'s socket", false)
	})
	t.Run("an app of an earlier Slipway at /home/admin is refused, not moved to /srv/<name>", func(t *testing.T) {
		// v0.2.0's units of an app named d: the only default then was
		// /home/admin and 127.0.0.1:8080, whatever APP_NAME.
		d := service.DefaultsFor("multid" + suffix)
		old := d
		old.DeployPath, old.ListenAddr = "/home/admin", "127.0.0.1:8080"
		units, err := service.Units(old)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := service.UnitDir + "/" + d.TemplateUnit()
		t.Cleanup(func() { a.sh(t, "rm -f "+tmpl) })
		cmd := sb.Command(ctx, "sh", "-c", "cat > "+tmpl)
		cmd.Stdin = bytes.NewReader(units[d.TemplateUnit()])
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		before := state(t)
		var out bytes.Buffer
		_, err = Deploy(ctx, sandboxEnv{sb: sb, svc: d}.options(&out, v1), false)
		want := "APP_NAME=" + d.AppName + " runs from DEPLOY_PATH=/home/admin on this server (an earlier Slipway's default for every name): set DEPLOY_PATH=/home/admin and APP_LISTEN=127.0.0.1:8080 to keep it there"
		if err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("deploy: %v\nwant it to end with %q", err, want)
		}
		t.Logf("refused: %v", err)
		if after := state(t); after != before {
			t.Errorf("the server changed:\nbefore\n%s\nafter\n%s", before, after)
		}
	})
}

func freeportOrFail(t *testing.T) int {
	t.Helper()
	p, err := freeport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
