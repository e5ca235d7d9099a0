package adopt

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"

	"github.com/slipway-dev/slipway/internal/slipversion"
)

// modulePath is Slipway's module, as an adopter's go.mod requires it (read
// from the code, so that a renamed copy names itself).
var modulePath = slipversion.Module()

// release is one version the test's module proxy serves: a commit of this
// repository under a semver tag.
type release struct {
	Version, Commit string
}

// releases are the two versions an adopter meets: the release candidate it
// adopts (the newest commit before HEAD, on its first-parent line, that
// already has both public packages) and the release it upgrades to with
// `go get -u` (HEAD; in a developer's tree with uncommitted changes, HEAD
// all the same: the proxy serves commits, as a real one does).
func releases(t *testing.T) (rc, final release) {
	t.Helper()
	out, err := exec.Command("git", "-C", repoRoot(t), "rev-list", "--first-parent", "--max-count=50", gitRev(t, "HEAD~1")).Output()
	if err != nil {
		t.Fatalf("git rev-list: %v", err)
	}
	for _, c := range strings.Fields(string(out)) {
		if exec.Command("git", "-C", repoRoot(t), "cat-file", "-e", c+":app/app.go").Run() == nil &&
			exec.Command("git", "-C", repoRoot(t), "cat-file", "-e", c+":targets/bootstrap").Run() == nil {
			return release{"v0.2.0-rc.1", c}, release{"v0.2.0", gitRev(t, "HEAD")}
		}
	}
	t.Fatal("no commit in the 50 before HEAD has both app/ and targets/bootstrap/: nothing to serve as the release candidate")
	return
}

// repoRoot is this repository's top folder.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func gitRev(t testing.TB, rev string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", repoRoot(t), "rev-parse", "--verify", rev+"^{commit}").Output()
	if err != nil {
		t.Fatalf("git rev-parse %s: %v (the test needs the repository's history: a full clone)", rev, err)
	}
	return strings.TrimSpace(string(out))
}

var (
	proxyOnce sync.Once
	proxyDir  string
	proxyErr  error
)

// moduleProxy builds, once per test binary, a GOPROXY folder (the
// file:// layout `go help goproxy` describes) serving rc and final of this
// module: a zip made by golang.org/x/mod/zip from `git archive` of each
// commit, its go.mod, an .info with the commit's time, and the list.
func moduleProxy(t testing.TB, rs ...release) string {
	t.Helper()
	proxyOnce.Do(func() { proxyDir, proxyErr = buildProxy(repoRoot(t), rs) })
	if proxyErr != nil {
		t.Fatalf("module proxy: %v", proxyErr)
	}
	return proxyDir
}

func buildProxy(root string, rs []release) (string, error) {
	dir, err := os.MkdirTemp("", "slipway-goproxy-")
	if err != nil {
		return "", err
	}
	cleanups = append(cleanups, func() { os.RemoveAll(dir) })
	esc, err := module.EscapePath(modulePath)
	if err != nil {
		return "", err
	}
	v := filepath.Join(dir, esc, "@v")
	if err := os.MkdirAll(v, 0o755); err != nil {
		return "", err
	}
	var list []string
	for _, r := range rs {
		src := filepath.Join(dir, "src-"+r.Version)
		if err := os.MkdirAll(src, 0o755); err != nil {
			return "", err
		}
		archive := exec.Command("git", "-C", root, "archive", "--format=tar", r.Commit)
		untar := exec.Command("tar", "-x", "-C", src)
		// One buffer each: the two processes write their stderr at once.
		var aerr, terr bytes.Buffer
		archive.Stderr, untar.Stderr = &aerr, &terr
		if untar.Stdin, err = archive.StdoutPipe(); err != nil {
			return "", err
		}
		if err := untar.Start(); err != nil {
			return "", err
		}
		if err := archive.Run(); err != nil {
			return "", &cmdError{"git archive " + r.Commit, err, aerr.String()}
		}
		if err := untar.Wait(); err != nil {
			return "", &cmdError{"tar -x", err, terr.String()}
		}
		mv := module.Version{Path: modulePath, Version: r.Version}
		z, err := os.Create(filepath.Join(v, r.Version+".zip"))
		if err != nil {
			return "", err
		}
		if err := zip.CreateFromDir(z, mv, src); err != nil {
			z.Close()
			return "", err
		}
		if err := z.Close(); err != nil {
			return "", err
		}
		mod, err := os.ReadFile(filepath.Join(src, "go.mod"))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(v, r.Version+".mod"), mod, 0o644); err != nil {
			return "", err
		}
		when, err := exec.Command("git", "-C", root, "show", "-s", "--format=%cI", r.Commit).Output()
		if err != nil {
			return "", err
		}
		at, err := time.Parse(time.RFC3339, strings.TrimSpace(string(when)))
		if err != nil {
			return "", err
		}
		info, _ := json.Marshal(struct {
			Version string
			Time    time.Time
		}{r.Version, at.UTC()})
		if err := os.WriteFile(filepath.Join(v, r.Version+".info"), info, 0o644); err != nil {
			return "", err
		}
		if err := os.RemoveAll(src); err != nil {
			return "", err
		}
		list = append(list, r.Version)
	}
	return dir, os.WriteFile(filepath.Join(v, "list"), []byte(strings.Join(list, "\n")+"\n"), 0o644)
}

type cmdError struct {
	what   string
	err    error
	output string
}

func (e *cmdError) Error() string { return e.what + ": " + e.err.Error() + "\n" + e.output }

// cleanups run after every test of the package (TestMain): the proxy and
// the built fixtures are shared by the tests.
var cleanups []func()

// goEnv is the environment of the go commands run in an adopter's copy:
// Slipway from the test's proxy, everything else from this machine's
// module cache used as a proxy too, so nothing is fetched from the
// network. GOSUMDB=off: sum.golang.org knows nothing of the test's
// versions, and the other modules' hashes are already pinned in the
// fixture's go.sum (copied from ours) or checked against the cache's
// ziphash when the cache filled. -trimpath keeps the module cache's
// folder, new each run, out of the build cache's keys; -modcacherw lets
// the test remove it.
func goEnv(t testing.TB, proxy string) []string {
	t.Helper()
	cache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(),
		"GOPROXY=file://"+proxy+",file://"+filepath.Join(strings.TrimSpace(string(cache)), "cache", "download"),
		"GOSUMDB=off", "GONOSUMDB="+modulePath, "GOFLAGS=-mod=mod -modcacherw -trimpath -buildvcs=false",
		"GOWORK=off", "GOTOOLCHAIN=local")
}

// copyFixture copies testdata/<name> into a fresh folder (enterable by the
// postgres user, as the local database fixMigrations starts needs) and
// returns it.
func copyFixture(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "slipway-adopt-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join("testdata", name)
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		dst := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// run runs name args in dir with env and returns its combined output; the
// test fails if it fails.
func run(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runErr(t, dir, env, name, args...)
	if err != nil {
		t.Fatalf("in %s: %s %s: %v\n%s", filepath.Base(dir), name, strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(t testing.TB, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s %s (%s)", filepath.Base(name), strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond))
	return out.String(), err
}

// requires is the version of Slipway dir's go.mod requires ("" none).
func requires(t testing.TB, dir string, env []string) string {
	t.Helper()
	out, _ := runErr(t, dir, env, "go", "list", "-m", "-f", "{{.Version}}", modulePath)
	return strings.TrimSpace(out)
}
