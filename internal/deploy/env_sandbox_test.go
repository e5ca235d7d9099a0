package deploy

// env:* on the sandbox: the service's env file changed with the live
// release restarted beside itself, under load; what is refused changes
// nothing; values never reach a command line, the journal or deploy.log.

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	loadgen "github.com/slipway-dev/slipway/internal/bench/load"
	"github.com/slipway-dev/slipway/internal/envfile"
	"github.com/slipway-dev/slipway/internal/freeport"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/sandbox"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/service"
)

// envService is an app of the env tests' own on the shared sandbox.
func envService(name string) service.Config {
	svc := service.DefaultConfig()
	svc.AppName, svc.ServiceUser, svc.DeployPath = name, name, "/srv/"+name
	return svc
}

// fileState is what must not move when a change is refused: the env
// file's hash, mode and owner, the candidates beside it, the live instance.
func (e sandboxEnv) fileState(t *testing.T) string {
	t.Helper()
	return e.sh(t, "f="+e.svc.EnvFile()+"; sha256sum $f; stat -c '%U:%G %a' $f; ls -a "+e.svc.EnvDir()+
		"; systemctl list-units --plain --no-legend --state=active '"+e.svc.InstancePattern()+"' | awk '{print $1}'"+
		"; cat "+e.svc.DeployPath+"/deploy.log 2>/dev/null | wc -l")
}

// liveInstance is the one active instance and its main PID.
func (e sandboxEnv) liveInstance(t *testing.T) (string, string) {
	t.Helper()
	units := strings.Fields(e.sh(t, "systemctl list-units --plain --no-legend --state=active '"+e.svc.InstancePattern()+"' | awk '{print $1}'"))
	if len(units) != 1 {
		t.Fatalf("want one active instance, got %v", units)
	}
	return units[0], e.sh(t, "systemctl show -P MainPID "+units[0])
}

// environ is the variable name's value in the environment of process pid.
func (e sandboxEnv) environ(t *testing.T, pid, name string) (string, bool) {
	t.Helper()
	out := sandboxtest.Run(t, e.sb, "cat", "/proc/"+pid+"/environ")
	for _, kv := range strings.Split(out, "\x00") {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// argvWatch polls every command line on the server for the needles, in a
// unit of its own, until stopped: what it found, with a control process
// started by the test to prove it looks.
type argvWatch struct {
	e    sandboxEnv
	unit string
}

func watchArgv(t *testing.T, e sandboxEnv, needles ...string) *argvWatch {
	t.Helper()
	w := &argvWatch{e: e, unit: "envt-argv-" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	cmd := e.sb.Command(context.Background(), "sh", "-c", "umask 077; cat > /root/"+w.unit+".needles; : > /root/"+w.unit+".hits")
	cmd.Stdin = strings.NewReader(strings.Join(needles, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	sandboxtest.Run(t, e.sb, "systemd-run", "--quiet", "--collect", "--unit="+w.unit, "sh", "-c",
		"while :; do grep -a -o -F -f /root/"+w.unit+".needles /proc/[0-9]*/cmdline >> /root/"+w.unit+".hits 2>/dev/null; done")
	return w
}

func (w *argvWatch) stop(t *testing.T) string {
	t.Helper()
	sandboxtest.Run(t, w.e.sb, "systemctl", "stop", w.unit)
	return sandboxtest.Run(t, w.e.sb, "sh", "-c", "sort -u /root/"+w.unit+".hits; rm -f /root/"+w.unit+".*")
}

func TestEnvOnSandbox(t *testing.T) {
	e := provisionedAs(t, envService("envt"))
	var out bytes.Buffer
	o := e.options(&out, appBinary(t, "v1", "e1e1e1e1"))
	rel := deployOK(t, o).Release
	ctx := context.Background()
	run36 := strconv.FormatInt(time.Now().UnixNano(), 36)
	// Every character the env file's syntax treats specially.
	tok := "pepper-" + run36 + "-tok" // what a leak in any form would still show
	pepper := ` ` + tok + ` "q" 'z' \b $HOME ` + "`id`" + ` #h ;x`

	setEnv := func(ch envfile.Change, force bool) ([]EnvResult, error) {
		out.Reset()
		return SetEnv(ctx, o, ch, force)
	}

	t.Run("set under load: the release restarts beside itself with the value, not one request fails", func(t *testing.T) {
		oldUnit, oldPID := e.liveInstance(t)
		control := "argv-control-" + run36
		w := watchArgv(t, e, pepper, control)
		sandboxtest.Run(t, e.sb, "sh", "-c", "sleep 1", control)
		load := loadgen.Start(ctx, "http://"+e.svc.ListenAddr+"/version", 100)
		res, err := setEnv(envfile.Change{Key: "PASSWORD_PEPPER", Value: pepper}, false)
		lr := load.Stop()
		hits := w.stop(t)
		if err != nil {
			t.Fatalf("env:set: %v\n%s", err, out.String())
		}
		if len(res) != 1 || res[0].Outcome != EnvChanged || res[0].Release != rel {
			t.Errorf("result %+v", res)
		}
		if lr.Sent < 50 || lr.Failed != 0 {
			t.Errorf("under load: %s, want 0 failed of at least 50", lr)
		}
		unit, pid := e.liveInstance(t)
		if want := e.svc.InstanceUnit(e.svc.InstanceName(rel, 1)); unit != want || unit == oldUnit || pid == oldPID {
			t.Errorf("live instance %s (pid %s), want %s, not %s (pid %s)", unit, pid, want, oldUnit, oldPID)
		}
		if v, ok := e.environ(t, pid, "PASSWORD_PEPPER"); v != pepper {
			t.Errorf("the app sees PASSWORD_PEPPER=%q (%v), want %q", v, ok, pepper)
		}
		if v, _ := e.environ(t, pid, "SLIPWAY_RELEASE"); v != rel {
			t.Errorf("SLIPWAY_RELEASE=%q, want the release id %s", v, rel)
		}
		if got := e.sh(t, "stat -c '%U:%G %a' "+e.svc.EnvFile()+"; ls -a "+e.svc.EnvDir()); got != "root:root 600\n.\n..\nenvt.env" {
			t.Errorf("env file and folder:\n%s", got)
		}
		if !strings.Contains(hits, control) {
			t.Fatalf("the argv watch never saw its control process: it proves nothing (hits %q)", hits)
		}
		for _, line := range strings.Split(strings.TrimSpace(hits), "\n") {
			if !strings.Contains(line, control) {
				t.Errorf("the value reached a command line on the server: %s", line)
			}
		}
		log := e.sh(t, "tail -n 1 "+e.svc.DeployPath+"/deploy.log")
		for _, want := range []string{" env host=sandbox by=tester@ci set=PASSWORD_PEPPER release=" + rel, "result=ok"} {
			if !strings.Contains(log, want) {
				t.Errorf("deploy.log's line lacks %q:\n%s", want, log)
			}
		}
		for where, text := range map[string]string{
			"deploy.log": e.sh(t, "cat "+e.svc.DeployPath+"/deploy.log"),
			"journal":    sandboxtest.Run(t, e.sb, "journalctl", "--no-pager", "-o", "cat"),
			"output":     out.String(),
		} {
			if strings.Contains(text, tok) {
				t.Errorf("the value reached the %s", where)
			}
		}
		if got := sandboxtest.Serving(t, e.svc.ListenAddr).Commit; got != "e1e1e1e1" {
			t.Errorf("serving %s", got)
		}
	})

	t.Run("the same value again changes nothing", func(t *testing.T) {
		before := e.fileState(t)
		res, err := setEnv(envfile.Change{Key: "PASSWORD_PEPPER", Value: pepper}, false)
		if err != nil || len(res) != 1 || res[0].Outcome != EnvUnchanged {
			t.Fatalf("%+v %v\n%s", res, err, out.String())
		}
		if after := e.fileState(t); after != before {
			t.Errorf("changed:\n%s\nthen:\n%s", before, after)
		}
	})

	t.Run("bad input is refused in one line and changes nothing", func(t *testing.T) {
		before := e.fileState(t)
		for _, tc := range []struct {
			ch   envfile.Change
			want string
		}{
			{envfile.Change{Key: "PASWORD_PEPPER", Value: "0123456789abcdef"}, "add -force"},
			{envfile.Change{Key: "lower", Value: "x"}, "not a setting name"},
			{envfile.Change{Key: "PASSWORD_PEPPER", Value: "0123456789abcdef\nDATABASE_URL=x"}, "line break"},
			{envfile.Change{Key: "DATABASE_URL", Value: "postgres://app:pw@host:port/db"}, "DATABASE_URL does not parse"},
			{envfile.Change{Key: "DATABASE_URL", Unset: true}, "DATABASE_URL is required"},
		} {
			_, err := setEnv(tc.ch, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Count(err.Error(), "\n") > 0 {
				t.Errorf("%s: %v, want one line with %q", tc.ch.Key, err, tc.want)
			}
		}
		if after := e.fileState(t); after != before {
			t.Errorf("changed:\n%s\nthen:\n%s", before, after)
		}
	})

	t.Run("a value the release can't serve with is put back, the live instance never stopped", func(t *testing.T) {
		if _, err := setEnv(envfile.Change{Key: "DB_WAIT", Value: "1s"}, false); err != nil {
			t.Fatalf("env:set DB_WAIT: %v\n%s", err, out.String())
		}
		before := e.fileState(t)
		unit, pid := e.liveInstance(t)
		load := loadgen.Start(ctx, "http://"+e.svc.ListenAddr+"/version", 50)
		o.ReadyTimeout = 30 * time.Second
		_, err := setEnv(envfile.Change{Key: "DATABASE_URL", Value: "postgres://nobody@127.0.0.1:1/none"}, false)
		lr := load.Stop()
		if err == nil {
			t.Fatalf("a database nobody answers on went live:\n%s", out.String())
		}
		for _, want := range []string{"the env file was put back", "not changed (old settings kept): sandbox"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q:\n%v", want, err)
			}
		}
		if strings.Contains(err.Error(), "nobody@") || strings.Contains(out.String(), "nobody@") {
			t.Errorf("the error shows the value:\n%v", err)
		}
		// All but deploy.log's line count, the last line: the rolled-back change has its line.
		after := e.fileState(t)
		if after[:strings.LastIndex(after, "\n")] != before[:strings.LastIndex(before, "\n")] {
			t.Errorf("changed:\n%s\nthen:\n%s", before, after)
		}
		if u, p := e.liveInstance(t); u != unit || p != pid {
			t.Errorf("live instance %s pid %s, want %s pid %s (never stopped)", u, p, unit, pid)
		}
		if lr.Failed != 0 {
			t.Errorf("under load: %s", lr)
		}
		if log := e.sh(t, "tail -n 1 "+e.svc.DeployPath+"/deploy.log"); !strings.Contains(log, "set=DATABASE_URL") || !strings.Contains(log, "result=rolled-back") {
			t.Errorf("deploy.log:\n%s", log)
		}
	})

	t.Run("unset removes the name and restarts as set does", func(t *testing.T) {
		res, err := setEnv(envfile.Change{Key: "DB_WAIT", Unset: true}, false)
		if err != nil || res[0].Outcome != EnvChanged {
			t.Fatalf("%+v %v\n%s", res, err, out.String())
		}
		_, pid := e.liveInstance(t)
		if v, ok := e.environ(t, pid, "DB_WAIT"); ok {
			t.Errorf("DB_WAIT=%s still in the app's environment", v)
		}
		if log := e.sh(t, "tail -n 1 "+e.svc.DeployPath+"/deploy.log"); !strings.Contains(log, "unset=DB_WAIT") {
			t.Errorf("deploy.log:\n%s", log)
		}
	})

	t.Run("a name of the user's own with -force", func(t *testing.T) {
		if _, err := setEnv(envfile.Change{Key: "ENVT_OWN", Value: "hello world"}, true); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		_, pid := e.liveInstance(t)
		if v, _ := e.environ(t, pid, "ENVT_OWN"); v != "hello world" {
			t.Errorf("ENVT_OWN=%q", v)
		}
	})

	t.Run("list shows names, never values; -values only on a terminal after yes", func(t *testing.T) {
		out.Reset()
		names, err := ListEnv(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range names["sandbox"] {
			got = append(got, n.Name)
		}
		if strings.Join(got, " ") != "DATABASE_URL PASSWORD_PEPPER ENVT_OWN" {
			t.Errorf("names %v\n%s", got, out.String())
		}
		if strings.Contains(out.String(), run36) || strings.Contains(out.String(), "hello") {
			t.Errorf("env:list shows a value:\n%s", out.String())
		}
		asked := false
		yes := func(string) (bool, error) { asked = true; return true, nil }
		if err := ListEnvValues(ctx, o, false, yes); !errors.Is(err, ErrNotTerminal) || asked {
			t.Errorf("not a terminal: %v (asked %v)", err, asked)
		}
		out.Reset()
		if err := ListEnvValues(ctx, o, true, func(string) (bool, error) { return false, nil }); err == nil || out.Len() != 0 {
			t.Errorf("not confirmed: %v\n%s", err, out.String())
		}
		if err := ListEnvValues(ctx, o, true, yes); err != nil || !strings.Contains(out.String(), "ENVT_OWN=\"hello world\"") {
			t.Errorf("confirmed: %v\n%s", err, out.String())
		}
	})

	t.Run("deploy and rollback after env changes: previous is still the release before", func(t *testing.T) {
		live, _ := e.liveInstance(t)
		out.Reset()
		if res := deployOK(t, o); res.Outcome != OutcomeUnchanged {
			t.Errorf("redeploying the binary %s runs: %s\n%s", live, res.Outcome, out.String())
		}
		out.Reset()
		o2 := o
		o2.Binary = appBinary(t, "v2", "e2e2e2e2")
		rel2 := deployOK(t, o2).Release
		if unit, _ := e.liveInstance(t); unit != e.svc.InstanceUnit(rel2) {
			t.Errorf("live %s, want %s", unit, e.svc.InstanceUnit(rel2))
		}
		if prev := e.sh(t, "readlink "+e.svc.PreviousLink()); prev != "releases/"+rel {
			t.Errorf("previous -> %s, want releases/%s", prev, rel)
		}
		if !strings.Contains(live, ".g") || !strings.Contains(out.String(), "stopping "+live) {
			t.Errorf("the handover didn't stop the live generation:\n%s", out.String())
		}
		out.Reset()
		if err := Rollback(ctx, o2, ""); err != nil {
			t.Fatalf("rollback: %v\n%s", err, out.String())
		}
		if got := sandboxtest.Serving(t, e.svc.ListenAddr).Commit; got != "e1e1e1e1" {
			t.Errorf("serving %s after rollback", got)
		}
		_, pid := e.liveInstance(t)
		if v, _ := e.environ(t, pid, "ENVT_OWN"); v != "hello world" {
			t.Errorf("after rollback ENVT_OWN=%q: the env file is not per release", v)
		}
	})

	t.Run("an unreachable host or an unknown host key: the other host is left untouched", func(t *testing.T) {
		port, err := freeport.Pick()
		if err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(t.TempDir(), "ssh_config")
		main, err := os.ReadFile(e.sb.ConfigPath)
		if err != nil {
			t.Fatal(err)
		}
		extra := remote.HostEntry("gone", port, "admin", e.sb.KeyPath, e.sb.KnownHostsPath) +
			remote.HostEntry("stranger", e.sb.Port, "admin", e.sb.KeyPath, "/dev/null")
		if err := os.WriteFile(cfg, append(main, extra...), 0o600); err != nil {
			t.Fatal(err)
		}
		before := e.fileState(t)
		for _, bad := range []string{"gone", "stranger"} {
			o3 := o
			o3.Hosts, o3.SSHConfig = []string{"sandbox", bad}, cfg
			out.Reset()
			_, err = SetEnv(ctx, o3, envfile.Change{Key: "LOG_FORMAT", Value: "text"}, false)
			if err == nil || !strings.Contains(err.Error(), "nothing changed on any host (sandbox, "+bad+")") {
				t.Errorf("%s: got %v", bad, err)
			}
			if after := e.fileState(t); after != before {
				t.Errorf("%s: changed:\n%s\nthen:\n%s", bad, before, after)
			}
		}
	})
}

// twoHosts is one ssh config naming two sandboxes enva and envb.
func twoHosts(t *testing.T, a, b *sandbox.Instance) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	text := remote.HostEntry("enva", a.Port, "admin", a.KeyPath, a.KnownHostsPath) + remote.HostEntry("envb", b.Port, "admin", b.KeyPath, b.KnownHostsPath)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestEnvDiffAcrossTwoSandboxes(t *testing.T) {
	svc := envService("envd")
	a := provisionedOn(t, sandboxtest.Get(t), svc)
	b := provisionedOn(t, sandboxtest.Second(t), svc)
	ctx := context.Background()
	var out bytes.Buffer
	o := testOptions([]string{"enva", "envb"}, twoHosts(t, a.sb, b.sb), svc.DeployPath, &out)
	o.Service = a.svc // one listen port on both: provisionedOn picked a's
	only := func(host string) Options { c := o; c.Hosts = []string{host}; return c }

	// No release on either: the file is replaced, the next deploy loads it.
	res, err := SetEnv(ctx, o, envfile.Change{Key: "LOG_FORMAT", Value: "json"}, false)
	if err != nil || len(res) != 2 || res[0].Outcome != EnvChanged || res[1].Outcome != EnvChanged {
		t.Fatalf("env:set on both: %+v %v\n%s", res, err, out.String())
	}
	if _, err := SetEnv(ctx, only("envb"), envfile.Change{Key: "LOG_FORMAT", Value: "text"}, false); err != nil {
		t.Fatal(err)
	}
	secret := "pepper-only-on-a-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := SetEnv(ctx, only("enva"), envfile.Change{Key: "PASSWORD_PEPPER", Value: secret}, false); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	diffs, err := DiffEnv(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]EnvDiff{}
	for _, d := range diffs {
		got[d.Name] = d
	}
	// Each sandbox has its own database password: DATABASE_URL differs too.
	if len(got) != 3 || len(got["DATABASE_URL"].Groups) != 2 || len(got["LOG_FORMAT"].Groups) != 2 ||
		len(got["PASSWORD_PEPPER"].Groups) != 1 || strings.Join(got["PASSWORD_PEPPER"].Missing, ",") != "envb" {
		t.Errorf("diffs %+v\n%s", diffs, out.String())
	}
	for _, want := range []string{"LOG_FORMAT differs: value 1 on enva; value 2 on envb", "PASSWORD_PEPPER differs: value 1 on enva; missing on envb"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), secret) || strings.Contains(out.String(), "json") {
		t.Errorf("env:diff shows a value:\n%s", out.String())
	}
	// The same value on both: no longer a difference.
	if _, err := SetEnv(ctx, o, envfile.Change{Key: "LOG_FORMAT", Value: "json"}, false); err != nil {
		t.Fatal(err)
	}
	if diffs, err := DiffEnv(ctx, o); err != nil || len(diffs) != 2 {
		t.Errorf("after aligning LOG_FORMAT: %+v %v", diffs, err)
	}
	// Edited by hand on envb, the same value to systemd: still the same.
	b.sh(t, `printf '%s\n' 'LOG_FORMAT="json"' >> `+svc.EnvFile())
	out.Reset()
	if diffs, err := DiffEnv(ctx, o); err != nil || len(diffs) != 2 || strings.Contains(out.String(), "LOG_FORMAT") {
		t.Errorf("after a hand edit of LOG_FORMAT=\"json\" on envb: %+v %v\n%s", diffs, err, out.String())
	}
	if log := a.sh(t, "cat "+svc.DeployPath+"/deploy.log"); strings.Contains(log, secret) || !strings.Contains(log, "set=PASSWORD_PEPPER") {
		t.Errorf("deploy.log on enva:\n%s", log)
	}
}
