package build

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// dirtySuffix marks a version built from a tree with uncommitted changes.
const dirtySuffix = "+dirty"

// Stamp reads the version stamp of the git checkout at dir: version is the
// tag at HEAD, or `git describe` output (tag-N-gHASH, or the bare hash when no
// tag exists), with "+dirty" appended when the tree has uncommitted changes;
// commit is the full hash of HEAD.
//
// No timestamp is part of the stamp, so two builds of one commit match.
func Stamp(ctx context.Context, dir string) (version, commit string, err error) {
	queries := [][]string{
		{"rev-parse", "--verify", "HEAD^{commit}"},
		// A fixed --abbrev: the default length grows with the object count,
		// which differs between a fresh clone and a long-lived checkout.
		{"describe", "--tags", "--always", "--abbrev=12"},
		// Not `describe --dirty`: it ignores untracked files, and a source
		// file not committed yet changes the binary just as much.
		{"status", "--porcelain", "--untracked-files=normal"},
	}
	// Concurrently: this runs before every build, even the ones the go
	// command finds up to date in ~0.1 s.
	var (
		wg   sync.WaitGroup
		outs = make([]string, len(queries))
		errs = make([]error, len(queries))
	)
	for i, q := range queries {
		wg.Go(func() { outs[i], errs[i] = git(ctx, dir, q...) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return "", "", err // the first only: outside a repository all three say the same
		}
	}
	commit, version = outs[0], outs[1]
	if outs[2] != "" {
		version += dirtySuffix
	}
	return version, commit, nil
}

// git runs one git command in dir and returns its trimmed output.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	// --no-optional-locks: several people build in one working tree, and a
	// status refresh holding index.lock would make their `git commit` fail.
	cmd := exec.CommandContext(ctx, "git", append([]string{"--no-optional-locks"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("stamp: git %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}
