package adopt

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	loadgen "github.com/slipway-dev/slipway/internal/bench/load"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/slipversion"
)

// baseline is the last commit before Slipway became a dependency (main
// before issue 26): the version servers in the field were set up with.
const baseline = "3f93e84e78aacc871c8571a5c1fa6d7d03fbda93"

// checkout is a `git worktree` of this repository at rev, in a folder of
// its own, removed when the test ends.
func checkout(t *testing.T, rev string) *project {
	t.Helper()
	root := repoRoot(t)
	dir, err := os.MkdirTemp("", "slipway-adopt-checkout-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	wt := filepath.Join(dir, "slipway")
	run(t, root, os.Environ(), "git", "worktree", "add", "-q", "--detach", wt, rev)
	t.Cleanup(func() {
		runErr(t, root, os.Environ(), "git", "worktree", "remove", "--force", wt)
		os.RemoveAll(dir)
	})
	return &project{dir: wt, env: os.Environ()}
}

// TestAServerOfTheBaselineIsUpgradedUnderLoad: a server provisioned and
// deployed by the previous version, with an admin in its database, is
// deployed by this one under 200 req/s: nothing fails, nothing is lost,
// and status names the Slipway version that changed the server.
func TestAServerOfTheBaselineIsUpgradedUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("two checkouts and the sandbox: skipped with -short")
	}
	start := time.Now()
	sb := sandboxtest.Get(t)
	listen := pickListen(t)
	settings := sandboxSettings(sb, listen, "ADMIN_PASSWORD=correct horse battery staple", "GOFLAGS=-buildvcs=false")
	old, head := checkout(t, baseline), checkout(t, "HEAD")
	old.env = append(old.env, settings...)
	head.env = append(head.env, settings...)
	headCommit := gitRev(t, "HEAD")
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	psql := func(t *testing.T, sql string) string {
		t.Helper()
		return strings.TrimSpace(sandboxtest.Run(t, sb, "runuser", "-u", "postgres", "--", "psql", "-d", "app", "-Atc", sql))
	}
	var users, versions string

	step("the baseline builds, provisions, deploys and creates an admin", func(t *testing.T) {
		old.mustMage(t, "buildApp")
		old.mustMage(t, "provision")
		dbURL, err := sb.DatabaseURL()
		if err != nil {
			t.Fatal(err)
		}
		writeEnv(t, sb, "/etc/app/app.env", "DATABASE_URL="+dbURL+"\nPASSWORD_PEPPER=adopt-pepper-0123456789abcdef\n")
		old.mustMage(t, "deploy")
		if got := sandboxtest.Serving(t, listen).Commit; got != baseline {
			t.Fatalf("serving %s, want the baseline %s", got, baseline)
		}
		old.mustMage(t, "createAdmin", "ops@example.com")
		users = psql(t, "SELECT id, email, password_hash FROM users ORDER BY id")
		versions = psql(t, "SELECT version_id, tstamp FROM goose_db_version ORDER BY id")
		if !strings.Contains(users, "ops@example.com") {
			t.Fatalf("no admin in the baseline's database:\n%s", users)
		}
	})

	step("this version deploys over it under 200 req/s: 0 failed, nothing lost", func(t *testing.T) {
		head.mustMage(t, "buildApp")
		underLoad(t, "http://"+listen+"/readyz", "the upgrade's deploy", func() { head.mustMage(t, "deploy") })
		if got := sandboxtest.Serving(t, listen).Commit; got != headCommit {
			t.Errorf("serving %s, want HEAD %s", got, headCommit)
		}
		if got := psql(t, "SELECT id, email, password_hash FROM users ORDER BY id"); got != users {
			t.Errorf("users changed by the upgrade:\nbefore %s\nafter  %s", users, got)
		}
		if got := psql(t, "SELECT version_id, tstamp FROM goose_db_version ORDER BY id"); !strings.HasPrefix(got, versions) {
			t.Errorf("the baseline's migration rows changed:\nbefore %s\nafter  %s", versions, got)
		}
	})

	step("status names the Slipway version that last changed the server", func(t *testing.T) {
		out := head.mustMage(t, "status")
		if want := "slipway " + slipversion.Version; !strings.Contains(out, want) {
			t.Errorf("status doesn't name Slipway %s:\n%s", want, out)
		}
	})
	t.Logf("the upgrade from the baseline, checkouts to status: %s", time.Since(start).Round(time.Second))
}

// underLoad runs f while url gets loadRate requests a second, from half a
// second before f to half a second after, and fails t unless every request
// succeeded. The load stops even when f ends the test.
func underLoad(t *testing.T, url, what string, f func()) loadgen.Result {
	t.Helper()
	load := loadgen.Start(context.Background(), url, loadRate)
	stopped := false
	defer func() {
		if !stopped {
			load.Stop()
		}
	}()
	time.Sleep(500 * time.Millisecond)
	f()
	time.Sleep(500 * time.Millisecond)
	res := load.Stop()
	stopped = true
	t.Logf("%s under %d req/s: %s", what, loadRate, res)
	if res.Failed != 0 || res.Sent < loadRate {
		t.Errorf("%s under load: %s; want 0 failed", what, res)
	}
	return res
}
