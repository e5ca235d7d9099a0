package e2e

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/build"
)

// repo is a private copy of this repository (tracked files plus untracked,
// non-ignored ones, as a developer's checkout would hold) in a git repository
// of its own, so the test can add migrations and commits freely.
type repo struct {
	dir string
	env []string
}

func copyRepo(t *testing.T) *repo {
	t.Helper()
	// The local PostgreSQL that fixMigrations starts runs as the postgres
	// user when we are root: the folder must be enterable (t.TempDir isn't).
	dir, err := os.MkdirTemp("", "slipway-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	return copyRepoInto(t, dir)
}

// copyRepoInto makes the copy in dir (created, and removed when the test
// ends). Files keep their modification times, so the go command's test
// cache recognises what a previous copy at the same path already passed.
func copyRepoInto(t *testing.T, dir string) *repo {
	t.Helper()
	src, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command("git", "-C", src, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join(src, name))
		if os.IsNotExist(err) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(filepath.Join(src, name))
		dst := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, st.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(dst, st.ModTime(), st.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
	// Folders too: a file or folder changed in the last seconds keeps a
	// test's result out of the cache.
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if st, err := os.Stat(filepath.Join(src, rel)); err == nil {
			return os.Chtimes(p, st.ModTime(), st.ModTime())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &repo{dir: dir}
	r.git(t, "init", "-q", "-b", "main")
	r.git(t, "add", "-A")
	r.commit(t, "e2e: the repository as tested")
	return r
}

func (r *repo) git(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@example.com", "GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *repo) commit(t *testing.T, msg string) string {
	t.Helper()
	r.git(t, "add", "-A")
	r.git(t, "commit", "-q", "--allow-empty", "-m", msg)
	return r.git(t, "rev-parse", "HEAD")
}

// mage runs `go run mage.go args...` in the copy, as the README says.
func (r *repo) mage(t *testing.T, extraEnv []string, args ...string) (string, error) {
	t.Helper()
	return r.mageIn(t, nil, extraEnv, args...)
}

// mageIn is mage with stdin (nil for none: /dev/null).
func (r *repo) mageIn(t *testing.T, stdin io.Reader, extraEnv []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"run", "mage.go"}, args...)...)
	cmd.Stdin = stdin
	cmd.Dir = r.dir
	cmd.Env = append(append(os.Environ(), r.env...), extraEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("go run mage.go %s (%s)", strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond))
	return out.String(), err
}

func (r *repo) mustMage(t *testing.T, args ...string) string {
	t.Helper()
	out, err := r.mage(t, nil, args...)
	if err != nil {
		t.Fatalf("go run mage.go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// newMigration creates a migration with the target and fills its Up/Down.
func (r *repo) newMigration(t *testing.T, name, up, down string) string {
	t.Helper()
	before, _ := filepath.Glob(filepath.Join(r.dir, "migrations", "*.sql"))
	r.mustMage(t, "newMigration", name)
	after, _ := filepath.Glob(filepath.Join(r.dir, "migrations", "*.sql"))
	if len(after) != len(before)+1 {
		t.Fatalf("newMigration made %d files", len(after)-len(before))
	}
	var created string
	for _, f := range after {
		if !strings.Contains(strings.Join(before, "\n"), f) {
			created = f
		}
	}
	if !strings.HasSuffix(created, "_"+name+".sql") || len(filepath.Base(created)) != len("20060102150405_"+name+".sql") {
		t.Fatalf("newMigration created %s, want <timestamp>_%s.sql", created, name)
	}
	body := "-- +goose Up\n" + up + "\n\n-- +goose Down\n" + down + "\n"
	if err := os.WriteFile(created, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return created
}

// writeBinary replaces bin/app (and its checksum) with another binary.
func (r *repo) writeBinary(t *testing.T, bin string) {
	t.Helper()
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "bin", "app"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := build.WriteChecksum(filepath.Join(r.dir, "bin", "app")); err != nil {
		t.Fatal(err)
	}
}
