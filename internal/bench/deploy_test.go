package bench

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/build"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/testenv"
)

// A short bench:deploy on the package's sandbox: every scenario runs, the
// socket keeps every request while stop-copy-start refuses some, and the
// meter sees a redeploy send far less than the binary.
func TestDeployMeasuresEveryScenarioOnOneSandbox(t *testing.T) {
	_, err := exec.LookPath("scp")
	testenv.Need(t, err == nil, "the seed flow runs OpenSSH scp: apt-get install openssh-client")
	sb := sandboxtest.Get(t)
	bin := filepath.Join(t.TempDir(), "app")
	if _, err := build.Run(t.Context(), build.Options{Dir: "../..", GOARCH: runtime.GOARCH, Output: bin}); err != nil {
		t.Fatal(err)
	}

	// Not the HTTPS row: its Caddy binds this machine's ports 80 and 443,
	// which internal/frontdoor's tests use while go test runs packages in
	// parallel; they deploy through HTTPS under load themselves.
	var scenarios []Scenario
	for _, s := range DeployScenarios() {
		if s.Name != ScenarioSlipwayHTTPS {
			scenarios = append(scenarios, s)
		}
	}
	res, err := Deploy(t.Context(), DeployOptions{RigOptions: RigOptions{Root: "../..", Binary: bin, Sandbox: sb}, Scenarios: scenarios,
		// The command→serving rows compile two magefiles and build ten apps:
		// serving_test.go checks how they read deploy, bench:deploy runs them.
		Serving: ServingOptions{Off: true},
		Deploys: 3, Rate: 200, Runs: 1, Gap: 500 * time.Millisecond, Migration: 3 * time.Second, NeverReady: 10 * time.Second})
	var out bytes.Buffer
	res.Print(&out)
	t.Logf("\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}

	for _, row := range []string{ScenarioSeed, ScenarioStopCopyStart, ScenarioRestart, ScenarioSlipway, "ratio Slipway / seed",
		ScenarioRestartMigration, ScenarioRestartNeverReady, ScenarioSlipwayMigration, ScenarioSlipwayNeverReady} {
		if !strings.Contains(out.String(), "\n"+row+" ") {
			t.Errorf("table lacks the row %q", row)
		}
	}
	get := func(name string) DeployRow {
		row, ok := res.Row(name)
		if !ok {
			t.Fatalf("no %s row", name)
		}
		return row
	}
	s, seed, restart, baseline := get(ScenarioSlipway), get(ScenarioSeed), get(ScenarioRestart), get(ScenarioStopCopyStart)
	for _, row := range []DeployRow{s, restart} {
		if row.Load.Failed != 0 || row.Load.Sent < 400 {
			t.Errorf("%s under load: %s; want at least 400 requests and none failed", row.Name, row.Load)
		}
	}
	// The handover rows: nothing fails, the never-ready release answers
	// nobody; restart in place lets it answer (counts, not timings).
	for _, name := range []string{ScenarioSlipwayMigration, ScenarioSlipwayNeverReady, ScenarioRestartMigration} {
		if row := get(name); row.Load.Failed != 0 || row.Load.Sent == 0 {
			t.Errorf("%s: %s, want requests and none failed", name, row.Load)
		}
	}
	if row := get(ScenarioSlipwayNeverReady); row.Answered != 0 {
		t.Errorf("%s: the never-ready release answered %d requests", row.Name, row.Answered)
	}
	if row := get(ScenarioRestartNeverReady); row.Answered == 0 {
		t.Errorf("%s: the never-ready release answered nothing under a restart in place; the row measures nothing", row.Name)
	}
	if baseline.Load.Failed == 0 {
		t.Errorf("%s: %s, want failures (stop-copy-start refuses connections)", baseline.Name, baseline.Load)
	}
	if seed.Load.Sent == 0 {
		t.Errorf("seed under load sent nothing")
	}
	if s.UnchangedBinary != 0 || seed.UnchangedBinary <= 0 {
		t.Errorf("binary bytes of an unchanged deploy: Slipway %d (want 0), seed %d (want > 0)", s.UnchangedBinary, seed.UnchangedBinary)
	}
	if s.ColdBinary < res.BinarySize || seed.ColdBinary < res.BinarySize {
		t.Errorf("binary bytes of a cold deploy: Slipway %d, seed %d; want the whole binary, %d", s.ColdBinary, seed.ColdBinary, res.BinarySize)
	}
	// The meter on sshd's side: a redeploy sends far less than the binary.
	if s.UnchangedSSH >= res.BinarySize/10 || seed.UnchangedSSH < res.BinarySize {
		t.Errorf("sent to sshd on an unchanged deploy: Slipway %d, seed %d; binary %d", s.UnchangedSSH, seed.UnchangedSSH, res.BinarySize)
	}
	for _, d := range []time.Duration{s.Cold, s.Unchanged, seed.Cold, seed.Unchanged} {
		if d <= 0 {
			t.Errorf("a deploy timed %s", d)
		}
	}
	if out := sandboxtest.Run(t, sb, "sh", "-c", "ls /etc/systemd/system/app-seed.service /home/admin/app 2>&1 || true"); strings.Count(out, "No such file") != 2 {
		t.Errorf("the seed's unit or binary is left on the server:\n%s", out)
	}
	// Slipway's units serve again after the baselines replaced them: one
	// instance, the current release's.
	if got := sandboxtest.Run(t, sb, "sh", "-c", "systemctl is-active app.socket app-current.service; test -e /etc/systemd/system/app.service && echo app.service left; systemctl list-units --plain --no-legend --state=active 'app@*' | wc -l"); got != "active\nactive\n1\n" {
		t.Errorf("after the bench: %q", got)
	}
}
