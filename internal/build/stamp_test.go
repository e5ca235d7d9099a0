package build

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

var (
	shortHash = regexp.MustCompile(`^[0-9a-f]{12}$`)
	fullHash  = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// TestStamp covers the version rules on a tiny repository: no build needed.
func TestStamp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	gitT(t, dir, "init", "--quiet")
	writeFile(t, dir, ".gitignore", "/bin/*\n")
	writeFile(t, dir, "main.go", "package main\n")
	gitT(t, dir, "add", ".")
	gitT(t, dir, "commit", "--quiet", "-m", "one")
	head := gitT(t, dir, "rev-parse", "HEAD")

	stamp := func(t *testing.T) string {
		t.Helper()
		version, commit, err := Stamp(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		if commit != head {
			t.Fatalf("commit = %q, want HEAD %q", commit, head)
		}
		return version
	}

	t.Run("untagged clean tree is the 12-digit commit hash", func(t *testing.T) {
		if v := stamp(t); !shortHash.MatchString(v) || !strings.HasPrefix(head, v) {
			t.Fatalf("version = %q, want the 12-digit prefix of %s", v, head)
		}
	})
	t.Run("ignored files don't make the tree dirty", func(t *testing.T) {
		writeFile(t, dir, "bin/app", "binary")
		if v := stamp(t); strings.HasSuffix(v, "+dirty") {
			t.Fatalf("version = %q, want clean", v)
		}
	})
	t.Run("an untracked file makes the tree dirty", func(t *testing.T) {
		writeFile(t, dir, "new.go", "package main\n")
		if v := stamp(t); !strings.HasSuffix(v, "+dirty") {
			t.Fatalf("version = %q, want +dirty", v)
		}
		gitT(t, dir, "clean", "--quiet", "-f", "new.go")
	})
	t.Run("a modified tracked file makes the tree dirty", func(t *testing.T) {
		writeFile(t, dir, "main.go", "package main // changed\n")
		if v := stamp(t); !strings.HasSuffix(v, "+dirty") {
			t.Fatalf("version = %q, want +dirty", v)
		}
		gitT(t, dir, "checkout", "--quiet", "main.go")
	})
	t.Run("a tag at HEAD is the version", func(t *testing.T) {
		gitT(t, dir, "tag", "v1.2.3")
		if v := stamp(t); v != "v1.2.3" {
			t.Fatalf("version = %q, want v1.2.3", v)
		}
	})
	t.Run("a commit after the tag is described from it", func(t *testing.T) {
		writeFile(t, dir, "main.go", "package main // two\n")
		gitT(t, dir, "commit", "--quiet", "-am", "two")
		head = gitT(t, dir, "rev-parse", "HEAD")
		if v, want := stamp(t), "v1.2.3-1-g"+head[:12]; v != want {
			t.Fatalf("version = %q, want %q", v, want)
		}
	})
}

func TestStampOutsideGit(t *testing.T) {
	t.Parallel()
	_, _, err := Stamp(context.Background(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "not a git repository") {
		t.Fatalf("err = %v, want git's 'not a git repository'", err)
	}
}
