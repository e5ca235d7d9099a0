package deploybench

import (
	"bytes"
	"os"
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

func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m)) }

func TestRunComparesSlipwayWithTheSeedFlowOnOneSandbox(t *testing.T) {
	_, err := exec.LookPath("scp")
	testenv.Need(t, err == nil, "the seed flow runs OpenSSH scp: apt-get install openssh-client")
	sb := sandboxtest.Get(t)
	bin := filepath.Join(t.TempDir(), "app")
	if _, err := build.Run(t.Context(), build.Options{Dir: "../..", GOARCH: runtime.GOARCH, Output: bin}); err != nil {
		t.Fatal(err)
	}

	res, err := Run(t.Context(), Options{Binary: bin, Sandbox: sb, Deploys: 2, Rate: 20, Runs: 1, Gap: 300 * time.Millisecond})
	var out bytes.Buffer
	res.Print(&out)
	t.Logf("\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}

	for _, row := range []string{"\nSlipway deploy ", "\nseed: ssh stop, scp, ssh start ", "\nratio Slipway / seed "} {
		if !strings.Contains(out.String(), row) {
			t.Errorf("table lacks the row %q", strings.TrimSpace(row))
		}
	}
	s, seed := res.Slipway, res.Seed
	if s.Load.Failed != 0 || s.Load.Sent == 0 {
		t.Errorf("Slipway under load: %s; want requests and none failed", s.Load)
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
}
