package build

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
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
	commit, err = git(ctx, dir, "rev-parse", "--verify", "HEAD^{commit}")
	if err != nil {
		return "", "", err
	}
	// A fixed --abbrev: the default length grows with the object count, which
	// differs between a fresh clone and a long-lived checkout of one commit.
	version, err = git(ctx, dir, "describe", "--tags", "--always", "--abbrev=12")
	if err != nil {
		return "", "", err
	}
	// Not `describe --dirty`: it ignores untracked files, and a new source
	// file that is not committed yet changes the binary just as much.
	status, err := git(ctx, dir, "status", "--porcelain", "--untracked-files=normal")
	if err != nil {
		return "", "", err
	}
	if status != "" {
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
