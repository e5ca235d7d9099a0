package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/slipway-dev/slipway/internal/admin/admintest"
	loadgen "github.com/slipway-dev/slipway/internal/bench/load"
	"github.com/slipway-dev/slipway/internal/build"
	"github.com/slipway-dev/slipway/internal/freeport"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/remote/sshdtest"
	"github.com/slipway-dev/slipway/internal/sandbox"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest/apptest"
	"github.com/slipway-dev/slipway/internal/service"
)

func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m)) }

const (
	adminEmail = "ops@example.com"
	adminPW    = "correct horse battery staple"
)

type world struct {
	r    *repo
	sb   *sandbox.Instance
	base string // http://APP_LISTEN
	svc  service.Config
}

// dbVersion is the server's applied migration version, read inside it.
func (w *world) dbVersion(t *testing.T) int {
	t.Helper()
	out := sandboxtest.Run(t, w.sb, "runuser", "-u", "postgres", "--", "psql", "-d", "app", "-Atc",
		"SELECT max(version_id) FROM goose_db_version WHERE is_applied")
	v, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("server version %q: %v", out, err)
	}
	return v
}

// serving is the commit the app on the server reports.
func (w *world) serving(t *testing.T) string {
	t.Helper()
	return sandboxtest.Serving(t, strings.TrimPrefix(w.base, "http://")).Commit
}

func (w *world) current(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(sandboxtest.Run(t, w.sb, "readlink", w.svc.CurrentLink()))
}

// strayFiles lists files in releases/ that aren't a finished release's.
func (w *world) strayFiles(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(sandboxtest.Run(t, w.sb, "find", w.svc.ReleasesDir(), "-type", "f",
		"!", "-name", "app", "!", "-name", "app.sha256", "!", "-name", "app.version", "!", "-name", "app.jobs"))
}

// TestReleaseJourney is the README's production flow on the sandbox, one
// step after the other; a failed step stops the journey.
func TestReleaseJourney(t *testing.T) {
	sb := sandboxtest.Get(t)
	port, err := freeport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	w := &world{r: copyRepo(t), sb: sb, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	w.svc = service.DefaultConfig()
	w.svc.ListenAddr = fmt.Sprintf("127.0.0.1:%d", port)
	w.r.env = []string{
		"DEPLOY_HOST=" + sb.Alias, "DEPLOY_SSH_CONFIG=" + sb.ConfigPath, "APP_LISTEN=" + w.svc.ListenAddr,
		"DEPLOY_READY_TIMEOUT=30s", "ADMIN_PASSWORD=" + adminPW, "DATABASE_URL=", "MIGRATIONS_DIR=",
	}
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	var v1, v2, v2b, v2c string
	// The journey's migrations come after the repository's own.
	own, _ := filepath.Glob("../../migrations/*.sql")
	nth := func(i int, name string) string { return fmt.Sprintf("%05d_%s.sql", len(own)+i, name) }

	step("newMigration, fixMigrations, checkMigrations, lintMigrations", func(t *testing.T) {
		w.r.newMigration(t, "add_notes",
			"CREATE TABLE notes (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    body text NOT NULL\n);",
			"DROP TABLE notes;")
		if out, err := w.r.mage(t, nil, "checkMigrations"); err == nil {
			t.Fatalf("checkMigrations passed with a timestamp migration:\n%s", out)
		}
		out := w.r.mustMage(t, "fixMigrations")
		if _, err := os.Stat(filepath.Join(w.r.dir, "migrations", nth(1, "add_notes"))); err != nil {
			t.Fatalf("fixMigrations did not number the file %s: %v\n%s", nth(1, "add_notes"), err, out)
		}
		sum, _ := os.ReadFile(filepath.Join(w.r.dir, "migrations", "migrations.sum"))
		if !strings.Contains(string(sum), nth(1, "add_notes")+" h1:") {
			t.Errorf("migrations.sum lacks the new file:\n%s", sum)
		}
		w.r.mustMage(t, "checkMigrations")
		w.r.mustMage(t, "lintMigrations")
		v1 = w.r.commit(t, "add notes")
	})

	step("buildApp", func(t *testing.T) {
		out := w.r.mustMage(t, "buildApp")
		if !strings.Contains(out, v1[:12]) {
			t.Errorf("summary does not name commit %s:\n%s", v1[:12], out)
		}
	})

	step("provision, then fill the env file", func(t *testing.T) {
		w.r.mustMage(t, "provision")
		if out := w.r.mustMage(t, "provision"); !strings.Contains(out, "nothing changed") {
			t.Errorf("second provision:\n%s", out)
		}
		dbURL, err := sb.DatabaseURL()
		if err != nil {
			t.Fatal(err)
		}
		env := "DATABASE_URL=" + dbURL + "\nPASSWORD_PEPPER=e2e-pepper-0123456789abcdef\n"
		if err := apptest.WriteEnv(context.Background(), sb, w.svc.EnvFile(), env); err != nil {
			t.Fatal(err)
		}
	})

	// From here on no secret may show up in any process's arguments on the
	// server (deploy, createAdmin, exec, psql), and at the end nowhere in its
	// journal or deploy.log.
	dbURL, err := sb.DatabaseURL()
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{strings.TrimPrefix(strings.SplitN(dbURL, "@", 2)[0], "postgres://app:"), "e2e-pepper-0123456789abcdef", adminPW}
	watch := sandboxtest.WatchArgv(t, sb, secrets...)

	step("deploy applies the migrations in the server's PostgreSQL", func(t *testing.T) {
		w.r.mustMage(t, "deploy")
		if got := w.serving(t); got != v1 {
			t.Errorf("serving %s, want %s", got, v1)
		}
		if v := w.dbVersion(t); v != len(own)+1 {
			t.Errorf("server at migration %d, want %d", v, len(own)+1)
		}
	})

	step("createAdmin, then log in over HTTP", func(t *testing.T) {
		if out := w.r.mustMage(t, "createAdmin", adminEmail); !strings.Contains(out, "created admin "+adminEmail) {
			t.Errorf("createAdmin:\n%s", out)
		}
		if out := w.r.mustMage(t, "createAdmin", adminEmail); !strings.Contains(out, "already exists") {
			t.Errorf("second createAdmin:\n%s", out)
		}
		page := login(t, w.base)
		if !strings.Contains(page, v1) || !strings.Contains(page, "<td>3</td>") {
			t.Errorf("dashboard lacks commit %s or migration 3:\n%s", v1, page)
		}
	})

	step("day 2: exec, psql, logs", func(t *testing.T) {
		if out := w.r.mustMage(t, "exec", "--", "migrate", "status"); !strings.Contains(out, "applied") {
			t.Errorf("exec -- migrate status:\n%s", out)
		}
		if out := w.r.mustMage(t, "psql", "-c=select current_user as who, count(*) as admins from users"); !strings.Contains(out, " app ") {
			t.Errorf("psql -c:\n%s", out)
		}
		if out := w.r.mustMage(t, "logs", "-n=20"); !strings.HasPrefix(out, sb.Alias+" ") {
			t.Errorf("logs: lines not prefixed with the host %s:\n%s", sb.Alias, out)
		}
	})

	step("env:set from stdin, env:list, env:unset: the targets on the live server", func(t *testing.T) {
		if out, err := w.r.mageIn(t, strings.NewReader("text\n"), nil, "env:set", "LOG_FORMAT"); err != nil || !strings.Contains(out, "changed: sandbox") {
			t.Fatalf("env:set LOG_FORMAT: %v\n%s", err, out)
		}
		if out, err := w.r.mageIn(t, strings.NewReader("x\n"), nil, "env:set", "LOG_FORMATT"); err == nil || !strings.Contains(out, "add -force") {
			t.Errorf("env:set of a misspelt name: %v\n%s", err, out)
		}
		out := w.r.mustMage(t, "env:list")
		if !strings.Contains(out, "  LOG_FORMAT\n") || !strings.Contains(out, "  PASSWORD_PEPPER\n") || strings.Contains(out, "e2e-pepper") {
			t.Errorf("env:list:\n%s", out)
		}
		if out, err := w.r.mage(t, nil, "env:list", "-values"); err == nil || !strings.Contains(out, "only on a terminal") || strings.Contains(out, "e2e-pepper") {
			t.Errorf("env:list -values without a terminal: %v\n%s", err, out)
		}
		if out := w.r.mustMage(t, "env:unset", "LOG_FORMAT"); !strings.Contains(out, "changed: sandbox") {
			t.Errorf("env:unset:\n%s", out)
		}
		if got := w.serving(t); got != v1 {
			t.Errorf("serving %s after the env changes, want %s", got, v1)
		}
	})

	step("deploy v2 with a new migration under load: zero failed requests", func(t *testing.T) {
		w.r.newMigration(t, "add_note_tag", "SET lock_timeout = '2s';\nALTER TABLE notes ADD COLUMN tag text;", "ALTER TABLE notes DROP COLUMN tag;")
		w.r.mustMage(t, "fixMigrations")
		v2 = w.r.commit(t, "add note tag")
		w.r.mustMage(t, "buildApp")
		load := loadgen.Start(context.Background(), w.base+"/readyz", 100)
		time.Sleep(500 * time.Millisecond)
		w.r.mustMage(t, "deploy")
		time.Sleep(500 * time.Millisecond)
		res := load.Stop()
		t.Logf("load across the deploy: %s", res)
		if res.Failed != 0 || res.Sent < 100 {
			t.Errorf("load across deploy v2: %s; want zero failures", res)
		}
		if got := w.serving(t); got != v2 {
			t.Errorf("serving %s, want v2 %s", got, v2)
		}
		if v := w.dbVersion(t); v != len(own)+2 {
			t.Errorf("server at migration %d, want %d", v, len(own)+2)
		}
	})

	step("a migration that fails on the server: old release keeps serving, schema unchanged", func(t *testing.T) {
		schema := func() string {
			return sandboxtest.Run(t, sb, "runuser", "-u", "postgres", "--", "psql", "-d", "app", "-Atc",
				"SELECT string_agg(table_name||'.'||column_name, ',' ORDER BY 1) FROM information_schema.columns WHERE table_schema='public'")
		}
		before := schema()
		w.r.newMigration(t, "bad_backfill", "SET lock_timeout = '2s';\nALTER TABLE notes ADD COLUMN score int;\nINSERT INTO notes (body) VALUES (NULL);", "ALTER TABLE notes DROP COLUMN score;")
		w.r.mustMage(t, "fixMigrations")
		w.r.commit(t, "a migration that fails on the server")
		w.r.mustMage(t, "buildApp")
		out, err := w.r.mage(t, nil, "deploy")
		if err == nil {
			t.Fatalf("deploy of a release whose migration fails succeeded:\n%s", out)
		}
		if !strings.Contains(out, "rolled back") || !strings.Contains(out, nth(3, "bad_backfill")) {
			t.Errorf("deploy output should say it rolled back and name the failing file:\n%s", out)
		}
		if got := w.serving(t); got != v2 {
			t.Errorf("serving %s after the failed deploy, want v2 %s", got, v2)
		}
		if v := w.dbVersion(t); v != len(own)+2 {
			t.Errorf("server at migration %d, want still 4", v)
		}
		if after := schema(); after != before {
			t.Errorf("schema changed by a failed migration:\nbefore %s\nafter  %s", before, after)
		}
		w.r.git(t, "reset", "-q", "--hard", "HEAD~1")
	})

	step("two deploys at once: one waits its turn or is refused, naming the holder", func(t *testing.T) {
		v2b = w.r.commit(t, "v2b: same schema, new binary")
		w.r.mustMage(t, "buildApp")
		slow := startThrottle(t, fmt.Sprintf("127.0.0.1:%d", sb.Port), 2<<20) // 2 MiB/s: the upload takes seconds
		slowCfg := aliasThrough(t, sb, "sandbox-slow", slow.port)
		first := make(chan error, 1)
		var firstOut string
		go func() {
			out, err := w.r.mage(t, []string{"DEPLOY_HOST=sandbox-slow", "DEPLOY_SSH_CONFIG=" + slowCfg}, "deploy")
			firstOut = out
			first <- err
		}()
		slow.waitBytes(t, 1<<20) // the first deploy holds the lock and is uploading
		out, err := w.r.mage(t, nil, "deploy")
		if err == nil {
			t.Fatalf("a second deploy ran while the first was uploading:\n%s", out)
		}
		if !strings.Contains(out, "lock") || !strings.Contains(out, "since") {
			t.Errorf("refusal should say who holds the lock since when:\n%s", out)
		}
		if err := <-first; err != nil {
			t.Fatalf("first deploy: %v\n%s", err, firstOut)
		}
		if got := w.serving(t); got != v2b {
			t.Errorf("serving %s, want %s", got, v2b)
		}
	})

	step("SSH connection cut during an upload: release untouched, nothing partial, next deploy works", func(t *testing.T) {
		v2c = w.r.commit(t, "v2c")
		w.r.mustMage(t, "buildApp")
		before := w.current(t)
		p := sshdtest.StartProxy(t, fmt.Sprintf("127.0.0.1:%d", sb.Port))
		p.CutAfter(3 << 20)
		cfg := aliasThrough(t, sb, "sandbox-flaky", p.Port)
		out, err := w.r.mage(t, []string{"DEPLOY_HOST=sandbox-flaky", "DEPLOY_SSH_CONFIG=" + cfg}, "deploy")
		if err == nil {
			t.Fatalf("deploy through a cut connection succeeded:\n%s", out)
		}
		if cur := w.current(t); cur != before {
			t.Errorf("current moved to %s after a cut upload", cur)
		}
		if got := w.serving(t); got != v2b {
			t.Errorf("serving %s after a cut upload, want %s", got, v2b)
		}
		// The server removes the partial upload by itself once it sees the
		// lock holder gone: at the cut's EOF, or after the lock's 20 s
		// without a heartbeat when the EOF never arrives; the client may
		// return before that.
		stray := w.strayFiles(t)
		for deadline := time.Now().Add(30 * time.Second); stray != "" && time.Now().Before(deadline); stray = w.strayFiles(t) {
			time.Sleep(250 * time.Millisecond)
		}
		if stray != "" {
			t.Errorf("partial files left behind 30 s after the cut:\n%s", stray)
		}
		w.r.mustMage(t, "deploy")
		if got := w.serving(t); got != v2c {
			t.Errorf("serving %s, want %s", got, v2c)
		}
	})

	step("a broken v3 that never becomes ready is rolled back automatically", func(t *testing.T) {
		w.r.writeBinary(t, buildNotReady(t))
		out, err := w.r.mage(t, nil, "deploy")
		if err == nil {
			t.Fatalf("deploy of a release that never becomes ready succeeded:\n%s", out)
		}
		if !strings.Contains(out, "rolled back") {
			t.Errorf("deploy output:\n%s", out)
		}
		if got := w.serving(t); got != v2c {
			t.Errorf("serving %s after the automatic rollback, want %s", got, v2c)
		}
	})

	step("rollback", func(t *testing.T) {
		w.r.mustMage(t, "rollback")
		if got := w.serving(t); got != v2b {
			t.Errorf("serving %s after rollback, want the previous release %s", got, v2b)
		}
	})

	step("status", func(t *testing.T) {
		out := w.r.mustMage(t, "status")
		cur := filepath.Base(w.current(t))
		if !strings.Contains(out, cur) || !strings.Contains(out, v2b[:12]) {
			t.Errorf("status should show the current release %s and its commit:\n%s", cur, out)
		}
		if !strings.Contains(out, "journalctl -u app") || !strings.Contains(out, `"msg":"serving"`) {
			t.Errorf("status should end with the service's last log lines:\n%s", out)
		}
	})

	step("sshd presenting a new host key: refused loudly, nothing changed", func(t *testing.T) {
		before := w.current(t)
		releases := sandboxtest.Run(t, sb, "ls", w.svc.ReleasesDir())
		cfg := aliasWithNewHostKey(t, sb)
		out, err := w.r.mage(t, []string{"DEPLOY_SSH_CONFIG=" + cfg}, "deploy")
		if err == nil {
			t.Fatalf("deploy to a server with a changed host key succeeded:\n%s", out)
		}
		if !strings.Contains(strings.ToLower(out), "host key") || !strings.Contains(out, "known_hosts") {
			t.Errorf("refusal should name the changed host key and the known_hosts line:\n%s", out)
		}
		if w.current(t) != before || sandboxtest.Run(t, sb, "ls", w.svc.ReleasesDir()) != releases {
			t.Error("the server changed although the host key did not match")
		}
		if got := w.serving(t); got != v2b {
			t.Errorf("serving %s, want %s", got, v2b)
		}
	})
	step("no secret in any argv, the journal or deploy.log", func(t *testing.T) {
		if hits := watch(); len(hits) > 0 {
			t.Errorf("a secret was in the arguments of %v on the server", hits)
		}
		for what, text := range map[string]string{
			"the journal": sandboxtest.Run(t, sb, "journalctl", "--no-pager", "-o", "cat"),
			"deploy.log":  sandboxtest.Run(t, sb, "cat", w.svc.DeployPath+"/deploy.log"),
		} {
			for i, s := range secrets {
				if strings.Contains(text, s) {
					t.Errorf("secret %d (database password, pepper, admin password) is in %s", i, what)
				}
			}
		}
	})
	_ = v2c
}

// login logs the admin in through the form and returns the dashboard.
func login(t *testing.T, base string) string {
	t.Helper()
	ok, page := admintest.Login(t, base, adminEmail, adminPW)
	if !ok {
		t.Fatalf("login did not reach the dashboard:\n%s", page)
	}
	return page
}

// buildNotReady builds a release that answers `version` but never becomes
// ready (internal/deploy/testdata/notready).
func buildNotReady(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "app")
	if _, err := build.Run(context.Background(), build.Options{Dir: "../..", Package: "./internal/deploy/testdata/notready", Output: out, Version: "notready", Commit: "notready"}); err != nil {
		t.Fatal(err)
	}
	return out
}

// aliasThrough writes an ssh config with alias reaching the sandbox's sshd
// through a local port, its real host key recorded for that port.
func aliasThrough(t *testing.T, sb *sandbox.Instance, alias string, port int) string {
	t.Helper()
	cfg, err := sb.ConfigVia(t.TempDir(), alias, port)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// aliasWithNewHostKey writes an ssh config for the sandbox whose known_hosts
// holds another ed25519 key for it: what a client sees when the server's
// host key changed.
func aliasWithNewHostKey(t *testing.T, sb *sandbox.Instance) string {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "other")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	pk, _, _, _, err := ssh.ParseAuthorizedKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	entry := fmt.Sprintf("[127.0.0.1]:%d %s", sb.Port, ssh.MarshalAuthorizedKey(pk))
	return writeConfig(t, sb.Alias, sb.Port, sb.KeyPath, entry)
}

func writeConfig(t *testing.T, alias string, port int, keyPath, knownHosts string) string {
	t.Helper()
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(knownHosts), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := remote.HostEntry(alias, port, "admin", keyPath, kh)
	p := filepath.Join(dir, "config")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
