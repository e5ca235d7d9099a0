package deploy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/slipway-dev/slipway/internal/service"
)

var (
	buildMu    sync.Mutex
	buildCache = map[string]string{}
	buildDir   string
)

// buildBinary builds pkg (relative to the repository root) stamped with
// version and commit, writes its .sha256 and returns its path. Builds are
// cached for the test binary's life.
func buildBinary(t *testing.T, pkg, version, commit string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := pkg + "|" + version + "|" + commit
	if p, ok := buildCache[key]; ok {
		return p
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "slipway-deploy-test-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = d
	}
	dir := filepath.Join(buildDir, fmt.Sprint(len(buildCache)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "app")
	ldflags := fmt.Sprintf("-s -w -X github.com/slipway-dev/slipway/internal/version.Version=%s -X github.com/slipway-dev/slipway/internal/version.Commit=%s -X main.commit=%s", version, commit, commit)
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "-ldflags", ldflags, pkg)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	writeSum(t, out)
	buildCache[key] = out
	return out
}

func writeSum(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	line := hex.EncodeToString(sum[:]) + "  app\n"
	if err := os.WriteFile(path+".sha256", []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appBinary(t *testing.T, version, commit string) string {
	return buildBinary(t, "./cmd/app", version, commit)
}

func testOptions(hosts []string, sshConfig, deployPath string, out *bytes.Buffer) Options {
	svc := service.DefaultConfig()
	svc.DeployPath = deployPath
	no := false
	return Options{
		Hosts:     hosts,
		SSHConfig: sshConfig,
		Service:   svc,
		Getenv:    func(string) string { return "" },
		Stdout:    out,
		Progress:  &no,
		Who:       "tester@ci",
	}
}

func TestMain(m *testing.M) {
	code := sandboxMain(m)
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}
