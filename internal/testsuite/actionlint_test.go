package testsuite

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// lint runs the actionlint step Run would run for the workflows under root,
// from this module (go.mod's tool line pins actionlint).
func lint(t *testing.T, root string) (string, error) {
	t.Helper()
	args, err := actionlint(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if args == nil {
		t.Fatalf("no actionlint step for %s", root)
	}
	args = args[1:] // the step's name
	for i, a := range args {
		if strings.HasPrefix(a, ".github/") {
			args[i] = filepath.Join(root, a)
		}
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestTheWorkflowsPassActionlint(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := lint(t, root); err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
}

// TestActionlintCatchesABrokenWorkflow: the step fails on a job that needs
// a job that doesn't exist and on a run: script shellcheck flags, so a
// passing step means something.
func TestActionlintCatchesABrokenWorkflow(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, ".github", "workflows")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bad := `on: push
jobs:
  deploy:
    needs: tests
    runs-on: ubuntu-24.04
    steps:
      - run: cd $HOME/app; rm -rf $DIR/*
`
	if err := os.WriteFile(filepath.Join(dir, "bad.yml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := lint(t, root)
	if err == nil {
		t.Fatalf("actionlint passed a broken workflow:\n%s", out)
	}
	for _, want := range []string{`job "deploy" needs job "tests" which does not exist`, "shellcheck reported issue"} {
		if !strings.Contains(out, want) {
			t.Errorf("actionlint's output lacks %q:\n%s", want, out)
		}
	}
}
