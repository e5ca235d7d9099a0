package adopt

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/freeport"
	"github.com/slipway-dev/slipway/internal/sandbox"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest/apptest"
	"github.com/slipway-dev/slipway/internal/slipversion"
)

// loadRate is the request rate every deploy of these tests runs under.
const loadRate = 200

// project is a folder of an app under test (the shop fixture, a checkout
// of Slipway) with the environment its commands run in.
type project struct {
	dir string
	env []string
}

func (p *project) run(t testing.TB, name string, args ...string) string {
	t.Helper()
	return run(t, p.dir, p.env, name, args...)
}

// mage runs `go run mage.go args...` in the project, as its docs say.
func (p *project) mage(t testing.TB, args ...string) (string, error) {
	t.Helper()
	return runErr(t, p.dir, p.env, "go", append([]string{"run", "mage.go"}, args...)...)
}

func (p *project) mustMage(t testing.TB, args ...string) string {
	t.Helper()
	out, err := p.mage(t, args...)
	if err != nil {
		t.Fatalf("go run mage.go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (p *project) git(t testing.TB, args ...string) string {
	t.Helper()
	env := append(slices.Clone(p.env), "GIT_AUTHOR_NAME=adopt", "GIT_AUTHOR_EMAIL=adopt@example.com",
		"GIT_COMMITTER_NAME=adopt", "GIT_COMMITTER_EMAIL=adopt@example.com")
	return strings.TrimSpace(run(t, p.dir, env, "git", args...))
}

// commit commits everything and returns the commit.
func (p *project) commit(t testing.TB, msg string) string {
	t.Helper()
	p.git(t, "add", "-A")
	p.git(t, "commit", "-q", "--allow-empty", "-m", msg)
	return p.git(t, "rev-parse", "HEAD")
}

// adopterCache is the module cache of the adopter's go commands: a new
// one per test binary, removed at the end. Not the machine's: the proxy's
// versions are this run's commits under fixed version names, and the go
// command takes a cached module version, and its package index, as
// immutable (a folder kept between runs served a stale copy).
func adopterCache(t testing.TB) string {
	t.Helper()
	cacheOnce.Do(func() {
		cacheDir, cacheErr = os.MkdirTemp("", "slipway-adopt-modcache-")
		if cacheErr == nil {
			dir := cacheDir
			cleanups = append(cleanups, func() { os.RemoveAll(dir) })
		}
	})
	if cacheErr != nil {
		t.Fatal(cacheErr)
	}
	return cacheDir
}

var (
	cacheOnce sync.Once
	cacheDir  string
	cacheErr  error
)

// newMigration creates a migration with the target and fills its Up and
// Down; it returns the file newMigration created.
func (p *project) newMigration(t testing.TB, name, up, down string) string {
	t.Helper()
	dir := filepath.Join(p.dir, "db", "migrations")
	before, _ := filepath.Glob(filepath.Join(dir, "*.sql"))
	p.mustMage(t, "newMigration", name)
	after, _ := filepath.Glob(filepath.Join(dir, "*.sql"))
	var created []string
	for _, f := range after {
		if !slices.Contains(before, f) {
			created = append(created, f)
		}
	}
	if len(created) != 1 || !strings.HasSuffix(created[0], "_"+name+".sql") {
		t.Fatalf("newMigration %s created %v", name, created)
	}
	body := "-- +goose Up\n" + up + "\n\n-- +goose Down\n" + down + "\n"
	if err := os.WriteFile(created[0], []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return created[0]
}

// listedTargets are the targets `go run mage.go -l` lists in dir.
func listedTargets(t testing.TB, p *project) []string {
	t.Helper()
	out := p.mustMage(t, "-l")
	_, list, ok := strings.Cut(out, "Targets:\n")
	if !ok {
		t.Fatalf("go run mage.go -l in %s lists no targets:\n%s", p.dir, out)
	}
	var names []string
	for line := range strings.SplitSeq(list, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, strings.TrimSuffix(f[0], "*"))
		}
	}
	return names
}

// productTargets are the targets an adopter must get: every target of our
// own magefile but those specific to this repository (test, bench:*).
func productTargets(t testing.TB) []string {
	t.Helper()
	ours := listedTargets(t, &project{dir: repoRoot(t), env: os.Environ()})
	return slices.DeleteFunc(ours, func(n string) bool { return n == "test" || strings.HasPrefix(n, "bench:") })
}

// TestShopAdoptsSlipwayAndShipsOnTheSandbox is docs/adopt.md followed by an
// app that isn't ours, from `go get` to a rollback on a real server, one
// step after the other; a failed step stops the journey.
func TestShopAdoptsSlipwayAndShipsOnTheSandbox(t *testing.T) {
	if testing.Short() {
		t.Skip("go get, builds and the sandbox: skipped with -short")
	}
	start := time.Now()
	rc, final := releases(t)
	proxy := moduleProxy(t, rc, final)
	env := append(goEnv(t, proxy), "GOMODCACHE="+adopterCache(t))
	shop := &project{dir: copyFixture(t, "shop"), env: env}
	pristine := &project{dir: copyFixture(t, "shop"), env: env}
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	shop.git(t, "init", "-q", "-b", "main")
	shop.commit(t, "the shop, before Slipway")

	step("go get the release candidate, apply docs/adopt.md's diff, build", func(t *testing.T) {
		shop.run(t, "go", "get", modulePath+"@"+rc.Version)
		if got := requires(t, shop.dir, env); got != rc.Version {
			t.Fatalf("go.mod requires Slipway %q after go get, want %s", got, rc.Version)
		}
		patch, err := filepath.Abs(filepath.Join("testdata", "adopt.patch"))
		if err != nil {
			t.Fatal(err)
		}
		shop.git(t, "apply", patch)
		shop.run(t, "go", "build", "./...")
		shop.run(t, "go", "vet", "./...")
	})

	step("go get -u picks the release; it builds and go run mage.go -l lists every product target", func(t *testing.T) {
		shop.run(t, "go", "get", "-u", modulePath)
		if got := requires(t, shop.dir, env); got != final.Version {
			t.Fatalf("go.mod requires Slipway %q after go get -u, want %s", got, final.Version)
		}
		shop.run(t, "go", "build", "./...")
		got := listedTargets(t, shop)
		for _, want := range productTargets(t) {
			if !slices.Contains(got, want) {
				t.Errorf("the shop's go run mage.go -l lacks %s; it lists %v", want, got)
			}
		}
		shop.commit(t, "adopt Slipway "+final.Version)
	})

	sb := sandboxtest.Get(t)
	ctx := context.Background()
	listen := pickListen(t)
	const deployPath = "/home/admin/shop"
	shop.env = append(shop.env, sandboxSettings(sb, listen, "DEPLOY_PATH="+deployPath, "SHOP_DATABASE_URL=")...)
	removeApp(t, sb, "shop", deployPath)
	psql := func(t *testing.T, sql string) string {
		t.Helper()
		return strings.TrimSpace(sandboxtest.Run(t, sb, "runuser", "-u", "postgres", "--", "psql", "-d", "shop", "-Atc", sql))
	}
	versionRows := func(t *testing.T) string {
		return psql(t, "SELECT version_id, tstamp FROM goose_db_version ORDER BY id")
	}
	var dbURL, appliedByShop string

	step("the shop's own code migrates its database to version 2", func(t *testing.T) {
		dbURL = appDatabase(t, sb, "shop")
		bin := filepath.Join(pristine.dir, "server")
		run(t, pristine.dir, append(slices.Clone(env), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0"), "go", "build", "-o", bin, "./cmd/server")
		files := map[string]string{"server": bin}
		migs, _ := filepath.Glob(filepath.Join(pristine.dir, "db", "migrations", "*.sql"))
		for _, m := range migs {
			files["db/migrations/"+filepath.Base(m)] = m
		}
		sandboxtest.Run(t, sb, "mkdir", "-p", "/root/shop-before")
		untar := sb.Command(ctx, "tar", "-x", "-C", "/root/shop-before")
		untar.Stdin = tarOf(t, files)
		if out, err := untar.CombinedOutput(); err != nil {
			t.Fatalf("copy the shop into the sandbox: %v\n%s", err, out)
		}
		// It migrates, then serves until the timeout stops it.
		srv := sb.Command(ctx, "timeout", "3", "/root/shop-before/server", "-addr", "127.0.0.1:0", "-migrations", "/root/shop-before/db/migrations")
		srv.Env = append(srv.Env, "SHOP_DATABASE_URL="+dbURL)
		out, err := srv.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 124 {
			t.Fatalf("the shop's server before Slipway: %v (want the timeout's 124)\n%s", err, out)
		}
		appliedByShop = versionRows(t)
		if got := psql(t, "SELECT max(version_id) FROM goose_db_version"); got != "2" {
			t.Fatalf("the shop's database at version %s after its own migrations, want 2:\n%s\n%s", got, appliedByShop, out)
		}
	})

	step("fixMigrations -rehash records the applied files; checkMigrations passes", func(t *testing.T) {
		shop.mustMage(t, "fixMigrations", "-rehash")
		sum, err := os.ReadFile(filepath.Join(shop.dir, "db", "migrations", "migrations.sum"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"00001_create_products.sql", "00002_seed_products.sql"} {
			if !strings.Contains(string(sum), f+" h1:") {
				t.Errorf("migrations.sum lacks %s:\n%s", f, sum)
			}
		}
		shop.mustMage(t, "checkMigrations")
		shop.commit(t, "record the released migrations")
	})

	var v1, v2, v3 string
	step("buildApp, provision, deploy: the applied migrations are taken over, not run again", func(t *testing.T) {
		v1 = shop.git(t, "rev-parse", "HEAD")
		shop.mustMage(t, "buildApp")
		if _, err := os.Stat(filepath.Join(shop.dir, "bin", "shop")); err != nil {
			t.Fatalf("buildApp wrote no bin/shop: %v", err)
		}
		shop.mustMage(t, "provision")
		writeEnv(t, sb, "/etc/shop/shop.env", "SHOP_DATABASE_URL="+dbURL+"\n")
		shop.mustMage(t, "deploy")
		if got := sandboxtest.Serving(t, listen).Commit; got != v1 {
			t.Errorf("serving %s, want %s", got, v1)
		}
		if got := versionRows(t); got != appliedByShop {
			t.Errorf("goose_db_version changed by the first deploy (a migration ran again?):\nbefore %s\nafter  %s", appliedByShop, got)
		}
		if got := psql(t, "SELECT count(*) FROM products"); got != "3" {
			t.Errorf("%s products after the first deploy, want the 3 the shop seeded", got)
		}
	})

	deployUnderLoad := func(t *testing.T, args ...string) string {
		t.Helper()
		var out string
		underLoad(t, "http://"+listen+"/products", args[0], func() { out = shop.mustMage(t, args...) })
		return out
	}

	step("a new release under 200 req/s: 0 failed", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(shop.dir, "cmd", "server", "release.go"), []byte("package main\n\nconst release = 2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		v2 = shop.commit(t, "release 2")
		shop.mustMage(t, "buildApp")
		deployUnderLoad(t, "deploy")
		if got := sandboxtest.Serving(t, listen).Commit; got != v2 {
			t.Errorf("serving %s, want %s", got, v2)
		}
	})

	step("a release with a migration under 200 req/s: backup taken, 0 failed", func(t *testing.T) {
		created := shop.newMigration(t, "add_stock", "SET lock_timeout = '2s';\nALTER TABLE products ADD COLUMN stock integer;", "ALTER TABLE products DROP COLUMN stock;")
		shop.mustMage(t, "fixMigrations")
		if _, err := os.Stat(filepath.Join(shop.dir, "db", "migrations", "00003_add_stock.sql")); err != nil {
			t.Fatalf("fixMigrations did not number %s as 00003: %v", filepath.Base(created), err)
		}
		v3 = shop.commit(t, "products have a stock")
		shop.mustMage(t, "buildApp")
		out := deployUnderLoad(t, "deploy")
		if !strings.Contains(out, "backup ") || !strings.Contains(out, "schema version 2") {
			t.Errorf("deploy of a migration took no backup of the schema at version 2:\n%s", out)
		}
		if got := psql(t, "SELECT max(version_id) FROM goose_db_version"); got != "3" {
			t.Errorf("the shop's database at version %s, want 3", got)
		}
		if got := psql(t, "SELECT version_id, tstamp FROM goose_db_version WHERE version_id <= 2 ORDER BY id"); got != appliedByShop {
			t.Errorf("the rows of the migrations the shop applied changed:\nbefore %s\nafter  %s", appliedByShop, got)
		}
		if got := sandboxtest.Serving(t, listen).Commit; got != v3 {
			t.Errorf("serving %s, want %s", got, v3)
		}
	})

	step("an edit to a migration the shop had applied is caught", func(t *testing.T) {
		f := filepath.Join(shop.dir, "db", "migrations", "00002_seed_products.sql")
		orig, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		edited := strings.Replace(string(orig), "('mug', 650)", "('mug', 700)", 1)
		if err := os.WriteFile(f, []byte(edited), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := shop.mage(t, "checkMigrations")
		if err == nil || !strings.Contains(out, "00002_seed_products.sql") {
			t.Errorf("checkMigrations after an edit to 00002: %v\n%s", err, out)
		}
		if err := os.WriteFile(f, orig, 0o644); err != nil {
			t.Fatal(err)
		}
	})

	step("rollback under 200 req/s: 0 failed", func(t *testing.T) {
		deployUnderLoad(t, "rollback")
		if got := sandboxtest.Serving(t, listen).Commit; got != v2 {
			t.Errorf("serving %s after rollback, want %s", got, v2)
		}
	})

	step("logs, status", func(t *testing.T) {
		if out := shop.mustMage(t, "logs", "-n=20"); !strings.HasPrefix(out, sb.Alias+" ") {
			t.Errorf("logs: lines not prefixed with the host %s:\n%s", sb.Alias, out)
		}
		out := shop.mustMage(t, "status")
		if !strings.Contains(out, v2[:12]) || !strings.Contains(out, "slipway "+slipversion.Version) {
			t.Errorf("status should name the live commit %s and slipway %s:\n%s", v2[:12], slipversion.Version, out)
		}
	})
	t.Logf("the adoption, from go get to status: %s", time.Since(start).Round(time.Second))
}

// tarOf is a tar stream of files (name in the archive -> path here), each
// 0755: the server binary must run, the others only be read.
func tarOf(t testing.TB, files map[string]string) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		b, err := os.ReadFile(files[name])
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(b)), ModTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// writeEnv writes the server's env file as its admin would, the secrets on
// stdin (never in argv), readable by root alone.
func writeEnv(t *testing.T, sb *sandbox.Instance, path, content string) {
	t.Helper()
	if err := apptest.WriteEnv(context.Background(), sb, path, content); err != nil {
		t.Fatal(err)
	}
}

// pickListen is a free 127.0.0.1 address for an app's APP_LISTEN (the
// sandbox shares this machine's network).
func pickListen(t testing.TB) string {
	t.Helper()
	port, err := freeport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// sandboxSettings are the settings of a project that deploys to sb with
// its app on listen, the other settings of this machine's environment
// cleared; more come last and win (os/exec keeps a key's last value).
func sandboxSettings(sb *sandbox.Instance, listen string, more ...string) []string {
	return append([]string{"DEPLOY_HOST=" + sb.Alias, "DEPLOY_SSH_CONFIG=" + sb.ConfigPath, "APP_LISTEN=" + listen,
		"DEPLOY_READY_TIMEOUT=30s", "DATABASE_URL=", "MIGRATIONS_DIR=", "APP_NAME=", "DEPLOY_PATH="}, more...)
}

// removeApp stops, when the test ends, every unit of the app name on sb
// and removes its deploy path: the package's tests share the sandbox.
func removeApp(t testing.TB, sb *sandbox.Instance, name, deployPath string) {
	t.Cleanup(func() {
		ctx := context.Background()
		sb.Run(ctx, "systemctl", "stop", name+".*", name+"@*", name+"-*")
		sb.Run(ctx, "rm", "-rf", deployPath)
	})
}

// appDatabase is a fresh database name on sb, owned by the app role, and
// its URL (holds the password: never log it). The sandbox lets the app role
// log in with its password to its own database only: name gets the same
// pg_hba.conf line.
func appDatabase(t testing.TB, sb *sandbox.Instance, name string) string {
	t.Helper()
	url, err := sb.FreshDatabase(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	psql := []string{"-u", "postgres", "--", "psql", "-Atqc"}
	hba := strings.TrimSpace(sandboxtest.Run(t, sb, "runuser", append(psql, "SHOW hba_file")...))
	line := "local " + name + " app scram-sha-256"
	if !slices.Contains(strings.Split(sandboxtest.Run(t, sb, "cat", hba), "\n"), line) {
		sandboxtest.Run(t, sb, "sed", "-i", "1i "+line, hba)
		sandboxtest.Run(t, sb, "runuser", append(psql, "SELECT pg_reload_conf()")...)
	}
	return url
}
