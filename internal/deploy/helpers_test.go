package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/slipway-dev/slipway/internal/build"
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
	if _, err := build.Run(context.Background(), build.Options{Dir: "../..", Package: pkg, Output: out, Version: version, Commit: commit}); err != nil {
		t.Fatal(err)
	}
	buildCache[key] = out
	return out
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
