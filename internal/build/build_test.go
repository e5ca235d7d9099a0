package build

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestRun builds the real ./cmd/app from clones of the committed HEAD. The
// builds are the slow part of this package's tests, so the subtests share
// one checkout and run in order. With a warm build cache they take seconds,
// except the cold-cache reproducibility build (about 45 s here), which -short
// replaces with a warm one.
var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// taggedClean is a clean checkout's version when a release tag (v0.2.0)
// is in its history: the tag, or `git describe`'s tag-N-g<12 hex>.
var taggedClean = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9]+-g[0-9a-f]{12})?$`)

func TestRun(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	repo := checkout(t, filepath.Join(tmp, "a"))
	head := gitT(t, repo, "rev-parse", "HEAD")

	var first Result
	t.Run("amd64 binary is static, stripped, checksummed and stamped", func(t *testing.T) {
		var stdout bytes.Buffer
		res, err := Run(ctx, Options{Dir: repo, Stdout: &stdout})
		if err != nil {
			t.Fatal(err)
		}
		first = res
		bin := filepath.Join(repo, "bin", "app")
		if err := Verify(bin, "amd64"); err != nil {
			t.Fatal(err)
		}
		if res.GOARCH != "amd64" || res.Commit != head || !fullHash.MatchString(res.Commit) || !(shortHash.MatchString(res.Version) || taggedClean.MatchString(res.Version)) || !sha256Hex.MatchString(res.SHA256) {
			t.Fatalf("result = %+v, want amd64, commit %s, a clean version (12-digit hash, or a release tag's describe)", res, head)
		}
		sum, err := os.ReadFile(bin + ".sha256")
		if err != nil {
			t.Fatal(err)
		}
		if want := res.SHA256 + "  app\n"; string(sum) != want {
			t.Fatalf("app.sha256 = %q, want %q", sum, want)
		}
		run(t, filepath.Dir(bin), "sha256sum", "--check", "--quiet", "app.sha256")

		line := stdout.String()
		if strings.Count(line, "\n") != 1 {
			t.Fatalf("summary = %q, want one line", line)
		}
		for _, want := range []string{"bin/app ", "linux/amd64", " MiB (", res.SHA256, res.Version} {
			if !strings.Contains(line, want) {
				t.Errorf("summary %q lacks %q", line, want)
			}
		}
		assertVersionOutput(t, bin, res)
	})

	t.Run("arm64 binary verifies as arm64", func(t *testing.T) {
		res, err := Run(ctx, Options{Dir: repo, GOARCH: "arm64", Output: "bin/app-arm64"})
		if err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(repo, "bin", "app-arm64")
		if err := Verify(bin, "arm64"); err != nil {
			t.Fatal(err)
		}
		if err := Verify(bin, "amd64"); err == nil {
			t.Fatal("an arm64 binary verified as amd64")
		}
		if res.SHA256 == first.SHA256 {
			t.Fatal("arm64 and amd64 binaries have the same sha256")
		}
	})

	t.Run("another checkout at another path gives the same bytes", func(t *testing.T) {
		if first.SHA256 == "" {
			t.Skip("the amd64 build failed")
		}
		other := checkout(t, filepath.Join(tmp, "a", "much", "longer", "path", "to", "another", "checkout"))
		// A fresh build cache, as on another machine: with a shared one the
		// compiled packages would come from the first build and only the link
		// would be tested. -short keeps the shared cache (seconds, not a minute).
		var env []string
		if !testing.Short() {
			env = []string{"GOCACHE=" + filepath.Join(tmp, "gocache")}
		}
		res, err := Run(ctx, Options{Dir: other, Env: env})
		if err != nil {
			t.Fatal(err)
		}
		if res.SHA256 != first.SHA256 || res.Version != first.Version {
			t.Fatalf("second checkout: sha256 %s version %s, first: sha256 %s version %s", res.SHA256, res.Version, first.SHA256, first.Version)
		}
	})

	t.Run("a dirty tree is marked", func(t *testing.T) {
		writeFile(t, repo, "notes.txt", "not committed\n")
		defer os.Remove(filepath.Join(repo, "notes.txt"))
		res, err := Run(ctx, Options{Dir: repo})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(res.Version, "+dirty") || res.Commit != head {
			t.Fatalf("version %q commit %q, want +dirty on commit %s", res.Version, res.Commit, head)
		}
		assertVersionOutput(t, filepath.Join(repo, "bin", "app"), res)
	})

	t.Run("an untidy go.mod fails with the go command's message", func(t *testing.T) {
		repo := checkout(t, filepath.Join(tmp, "untidy"))
		// Import a module and drop its requirement: go.mod then needs tidying.
		const mod = "github.com/jackc/pgx/v5"
		gomod, err := os.ReadFile(filepath.Join(repo, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		var kept []string
		for _, l := range strings.Split(string(gomod), "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), mod+" ") {
				kept = append(kept, l)
			}
		}
		if len(kept) == strings.Count(string(gomod), "\n")+1 {
			t.Fatalf("go.mod doesn't require %s: pick another module for this test", mod)
		}
		writeFile(t, repo, "go.mod", strings.Join(kept, "\n"))
		writeFile(t, repo, "cmd/app/untidy.go", "package main\n\nimport _ \""+mod+"\"\n")

		_, err = Run(ctx, Options{Dir: repo})
		if err == nil || !strings.Contains(err.Error(), "go: updates to go.mod needed") {
			t.Fatalf("err = %v, want the go command's 'updates to go.mod needed'", err)
		}
		if _, err := os.Stat(filepath.Join(repo, "bin", "app.sha256")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a failed build left bin/app.sha256 (stat: %v)", err)
		}
	})
}

// assertVersionOutput runs `app version` and compares it with the stamp.
func assertVersionOutput(t *testing.T, bin string, res Result) {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != res.GOARCH {
		t.Logf("can't run a linux/%s binary here: `app version` not checked", res.GOARCH)
		return
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", bin, err)
	}
	want := "version " + res.Version + "\ncommit " + res.Commit + "\ngo " + res.GoVersion + "\n"
	if string(out) != want {
		t.Fatalf("%s version printed %q, want %q", bin, out, want)
	}
}

func TestVersionWithoutCommitIsRefused(t *testing.T) {
	_, err := Run(context.Background(), Options{Dir: t.TempDir(), Version: "v1"})
	if err == nil || !strings.Contains(err.Error(), "set both Version and Commit") {
		t.Fatalf("got %v, want a refusal naming both fields", err)
	}
}

func TestADatabaseURLThatIsNoVariableNameIsRefused(t *testing.T) {
	// It goes into -ldflags: a space would split the flag.
	_, err := Run(context.Background(), Options{Dir: t.TempDir(), DatabaseURL: "SHOP URL -X main.x=y"})
	if err == nil || !strings.Contains(err.Error(), "no environment variable name") {
		t.Fatalf("got %v, want a refusal naming the bad name", err)
	}
}
