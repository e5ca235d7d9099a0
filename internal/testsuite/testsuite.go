// Package testsuite is `go run mage.go test`: formatting, vet and
// staticcheck (magefile included), actionlint on the CI workflows, then
// every test with the race detector.
package testsuite

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Staticcheck is the pinned staticcheck module, run with `go run` so no
// install step is needed.
const Staticcheck = "honnef.co/go/tools/cmd/staticcheck@v0.8.2"

// Options configures Run.
type Options struct {
	Root   string
	Stdout io.Writer
	Stderr io.Writer
	// Run limits the tests to those matching this -run pattern ("" = all).
	Run string
	// Short is the fast loop: every check, and the tests with -short (which
	// skip what needs the sandbox, a booted Debian server, and say so),
	// without -race and with go test's cache. CI runs the full suite.
	Short bool
}

// Run runs every check in order and stops at the first that fails.
func Run(ctx context.Context, o Options) error {
	step := func(name string, args ...string) error {
		fmt.Fprintf(o.Stdout, "==> %s\n", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Dir, cmd.Stdout, cmd.Stderr = o.Root, o.Stdout, o.Stderr
		// The race detector needs cgo even where the build is static.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s failed: %w", name, err)
		}
		return nil
	}
	fmt.Fprintln(o.Stdout, "==> gofmt -l .")
	out, err := exec.CommandContext(ctx, "gofmt", "-l", o.Root).CombinedOutput()
	if err != nil {
		return fmt.Errorf("gofmt: %w: %s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		return fmt.Errorf("gofmt: these files need formatting (run gofmt -w): %s", strings.ReplaceAll(s, "\n", " "))
	}
	steps := [][]string{
		{"vet", "go", "vet", "./..."},
		{"vet (magefile)", "go", "vet", "-tags", "mage", "."},
		{"staticcheck", "go", "run", Staticcheck, "./..."},
		{"staticcheck (magefile)", "go", "run", Staticcheck, "-tags", "mage", "."},
	}
	if lint, err := actionlint(o); err != nil {
		return err
	} else if lint != nil {
		steps = append(steps, lint)
	}
	for _, s := range steps {
		if err := step(s[0], s[1:]...); err != nil {
			return err
		}
	}
	args := []string{"go", "test", "-race", "-count=1", "-timeout", "45m"}
	if o.Short {
		// No -race: it makes the WebAssembly SQL parser ~15x slower (lint,
		// migfiles, devdb). With the test cache, an unchanged package's
		// result is replayed.
		args = []string{"go", "test", "-short", "-timeout", "10m"}
	}
	if o.Run != "" {
		args = append(args, "-run", o.Run)
	}
	return step("tests", append(args, "./...")...)
}

// actionlint is the step checking .github/workflows with actionlint, the
// version go.mod's `tool` line pins (nil when there are no workflows). Its
// shellcheck is given explicitly, so what it checks doesn't depend on what
// PATH happens to hold: Debian's /usr/bin/shellcheck (.ci/run installs it),
// else the one on PATH; pyflakes is off (no Python in the workflows).
func actionlint(o Options) ([]string, error) {
	var files []string
	for _, ext := range []string{"yml", "yaml"} {
		m, err := filepath.Glob(filepath.Join(o.Root, ".github", "workflows", "*."+ext))
		if err != nil {
			return nil, err
		}
		for _, f := range m {
			rel, err := filepath.Rel(o.Root, f)
			if err != nil {
				return nil, err
			}
			files = append(files, rel)
		}
	}
	if len(files) == 0 {
		return nil, nil
	}
	shellcheck := "/usr/bin/shellcheck"
	if _, err := os.Stat(shellcheck); err != nil {
		if shellcheck, err = exec.LookPath("shellcheck"); err != nil {
			return nil, fmt.Errorf("actionlint: shellcheck is not installed, and the workflows' run: scripts are checked with it: apt-get install shellcheck")
		}
	}
	return append([]string{"actionlint", "go", "tool", "actionlint", "-shellcheck=" + shellcheck, "-pyflakes="}, files...), nil
}
