package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
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
	out := buildIn(t, "../..", pkg, version, commit)
	buildCache[key] = out
	return out
}

// buildIn builds pkg of the module at root; the caller holds buildMu.
func buildIn(t *testing.T, root, pkg, version, commit string) string {
	t.Helper()
	if buildDir == "" {
		d, err := os.MkdirTemp("", "slipway-deploy-test-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = d
	}
	dir, err := os.MkdirTemp(buildDir, "bin-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "app")
	if _, err := build.Run(context.Background(), build.Options{Dir: root, Package: pkg, Output: out, Version: version, Commit: commit}); err != nil {
		t.Fatal(err)
	}
	return out
}

// slowBinary builds the app with one more migration, which records each
// run in slow_runs and then sleeps secs seconds: a long backfill. It builds
// from a copy of the working tree that holds the extra file.
func slowBinary(t *testing.T, version, commit string, secs int) string {
	t.Helper()
	mig := fmt.Sprintf("-- +goose Up\nCREATE TABLE IF NOT EXISTS slow_runs (at timestamptz NOT NULL DEFAULT now());\nINSERT INTO slow_runs DEFAULT VALUES;\nSELECT pg_sleep(%d);\n\n-- +goose Down\nDROP TABLE slow_runs;\n", secs)
	return extraMigrationBinary(t, version, commit, "00090_slow_backfill.sql", mig)
}

// extraMigrationBinary builds the app with one more migration file, from a
// copy of the working tree that holds it.
func extraMigrationBinary(t *testing.T, version, commit, name, sql string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := "extra|" + version + "|" + commit + "|" + name + "|" + sql
	if p, ok := buildCache[key]; ok {
		return p
	}
	src := filepath.Join(t.TempDir(), "src")
	cp := exec.Command("sh", "-c", `mkdir -p "$1" && tar -C ../.. --exclude=./.git --exclude=./bin -cf - . | tar -C "$1" -xf -`, "copy", src)
	if b, err := cp.CombinedOutput(); err != nil {
		t.Fatalf("copy the tree: %v\n%s", err, b)
	}
	if err := os.WriteFile(filepath.Join(src, "migrations", name), []byte(sql), 0o644); err != nil {
		t.Fatal(err)
	}
	p := buildIn(t, src, "./cmd/app", version, commit)
	buildCache[key] = p
	return p
}

// notReadyBinary builds testdata/notready failing in mode (hang, exit,
// unready): the mode rides in its version stamp, notready-<mode>.
func notReadyBinary(t *testing.T, mode, commit string) string {
	return buildBinary(t, "./internal/deploy/testdata/notready", "notready-"+mode, commit)
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
	// Re-executed as a deploy client that a test kills -9 (startClient).
	if spec := os.Getenv(clientEnv); spec != "" {
		os.Exit(runClient(spec))
	}
	code := sandboxMain(m)
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}
