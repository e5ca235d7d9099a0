package e2e

import (
	"context"
	"fmt"
	"github.com/slipway-dev/slipway/internal/remote/remotetest"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/freeport"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/service"
)

// serverState is what a second provision must leave as it was: the env
// file (hash, owner, mode), PostgreSQL's roles (attributes and a hash of
// the password verifier) and databases, its pg_hba.conf, the installed
// PostgreSQL packages.
const serverState = `set -eu
cd /
sha256sum "$1"; stat -c '%U:%G %a' "$1"
runuser -u postgres -- psql -X -Atc "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, md5(coalesce(rolpassword, '')) FROM pg_authid ORDER BY 1"
runuser -u postgres -- psql -X -Atc "SELECT datname, pg_get_userbyid(datdba) FROM pg_database ORDER BY 1"
sha256sum "$(runuser -u postgres -- psql -X -Atc 'SHOW hba_file')"
dpkg -l 'postgresql*' | grep '^ii'
`

// TestProvisionDeployCreateAdminOnAnEmptyServer is the README's production
// flow on a server with no PostgreSQL and no env file: provision, buildApp,
// deploy, createAdmin, and the admin logs in, with nothing else run on the
// server. A second provision changes nothing on it. No secret is in an
// argv while they run, nor in the journal.
func TestProvisionDeployCreateAdminOnAnEmptyServer(t *testing.T) {
	start := time.Now()
	sb := sandboxtest.Empty(t)
	t.Logf("empty sandbox up in %s", time.Since(start).Round(100*time.Millisecond))
	c := sandboxtest.Dial(t, sb)
	ctx := context.Background()
	port, err := freeport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	svc := service.DefaultConfig()
	svc.ListenAddr = fmt.Sprintf("127.0.0.1:%d", port)
	base := "http://" + svc.ListenAddr
	r := copyRepo(t)
	r.env = []string{
		"DEPLOY_HOST=" + sb.Alias, "DEPLOY_SSH_CONFIG=" + sb.ConfigPath, "APP_LISTEN=" + svc.ListenAddr,
		"DEPLOY_READY_TIMEOUT=60s", "ADMIN_PASSWORD=" + adminPW, "DATABASE_URL=", "MIGRATIONS_DIR=",
	}
	root := func(t *testing.T, cmd string) string {
		t.Helper()
		out, err := remotetest.RootShell(ctx, c, cmd, nil)
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		return string(out)
	}
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	if out, err := remotetest.RootShell(ctx, c, "dpkg-query -W -f '${Status}' postgresql; command -v ps", nil); err == nil && strings.HasPrefix(string(out), "install ok installed") {
		t.Fatalf("the empty sandbox has PostgreSQL: %s", out)
	}
	// Markers of the secrets provision generates, before it has: the URL
	// with its password, the SQL with the verifier.
	stop := sandboxtest.WatchArgv(t, sb, "postgres://app:", "SCRAM-SHA-256$", "PASSWORD_PEPPER=0", adminPW)
	var pw, pepper string

	step("provision installs PostgreSQL, the role, the database and the env file", func(t *testing.T) {
		began := time.Now()
		out := r.mustMage(t, "provision")
		t.Logf("provision (%s, apt-get install included):\n%s", time.Since(began).Round(100*time.Millisecond), out)
		for _, want := range []string{"changed: installed PostgreSQL 15", "changed: PostgreSQL role app (login; no superuser, createdb or createrole) and database app",
			"changed: /etc/app/app.env: DATABASE_URL and PASSWORD_PEPPER written"} {
			if !strings.Contains(out, want) {
				t.Errorf("provision's output lacks %q", want)
			}
		}
		if strings.Contains(out, "todo:") {
			t.Errorf("provision left a todo on an empty server")
		}
		env := root(t, "cat "+svc.EnvFile())
		for _, l := range strings.Split(env, "\n") {
			if v, ok := strings.CutPrefix(l, "DATABASE_URL=postgres://app:"); ok {
				pw, _, _ = strings.Cut(v, "@")
			}
			if v, ok := strings.CutPrefix(l, "PASSWORD_PEPPER="); ok {
				pepper = v
			}
		}
		if len(pw) != 64 || len(pepper) != 64 {
			t.Fatalf("env file: password of %d characters, pepper of %d: want 64 each", len(pw), len(pepper))
		}
		if strings.Contains(out, pw) || strings.Contains(out, pepper) {
			t.Errorf("provision printed a secret")
		}
		attrs := root(t, `cd / && runuser -u postgres -- psql -X -Atc "SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, pg_get_userbyid(datdba) FROM pg_roles, pg_database WHERE rolname = 'app' AND datname = 'app'"`)
		if strings.TrimSpace(attrs) != "f|f|f|t|app" {
			t.Errorf("role app (super, createdb, createrole, login, owner of app): %q, want f|f|f|t|app", attrs)
		}
	})
	if hits := stop(); len(hits) > 0 {
		t.Errorf("a secret's marker was in the argv of %v during provision", hits)
	}
	stop = sandboxtest.WatchArgv(t, sb, pw, pepper, adminPW)

	step("buildApp, deploy, createAdmin: the admin logs in", func(t *testing.T) {
		r.mustMage(t, "buildApp")
		r.mustMage(t, "deploy")
		if got, want := sandboxtest.Serving(t, svc.ListenAddr).Commit, r.git(t, "rev-parse", "HEAD"); got != want {
			t.Errorf("serving %s, want %s", got, want)
		}
		if out := r.mustMage(t, "createAdmin", adminEmail); !strings.Contains(out, "created admin "+adminEmail) {
			t.Errorf("createAdmin:\n%s", out)
		}
		login(t, base)
	})

	step("a second provision changes nothing on the server", func(t *testing.T) {
		state := "sh -c " + remote.Quote(serverState) + " state " + svc.EnvFile()
		before := root(t, state)
		if !strings.Contains(before, "root:root 600") || !strings.Contains(before, "postgresql-15") {
			t.Fatalf("server state:\n%s", before)
		}
		out := r.mustMage(t, "provision")
		if !strings.Contains(out, "provision: nothing changed") || !strings.Contains(out, "ok: DATABASE_URL set in /etc/app/app.env") {
			t.Errorf("second provision:\n%s", out)
		}
		if after := root(t, state); after != before {
			t.Errorf("the second provision changed the server:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		login(t, base)
	})
	if hits := stop(); len(hits) > 0 {
		t.Errorf("a secret was in the argv of %v (deploy, createAdmin, provision)", hits)
	}

	// After the flow: a second app whose database is elsewhere.
	step("an app with an external database gets no role or database", func(t *testing.T) {
		ext := []string{"APP_NAME=ext", "DEPLOY_PATH=/srv/ext", fmt.Sprintf("APP_LISTEN=127.0.0.1:%d", port+1)}
		out, err := r.mage(t, append(ext, "PROVISION_DATABASE=external"), "provision")
		if err != nil || !strings.Contains(out, "todo: set DATABASE_URL in /etc/ext/ext.env (go run mage.go env:set DATABASE_URL)") || strings.Contains(out, "PostgreSQL role") {
			t.Fatalf("provision with PROVISION_DATABASE=external: %v\n%s", err, out)
		}
		// What env:set DATABASE_URL leaves in the file.
		if out, err := remotetest.RootShell(ctx, c, "cat >> /etc/ext/ext.env", strings.NewReader("DATABASE_URL=postgres://ext:x@db.example.com/ext\n")); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		out, err = r.mage(t, ext, "provision")
		if err != nil || !strings.Contains(out, "ok: DATABASE_URL set in /etc/ext/ext.env: the app uses the database it names; provision installs no PostgreSQL") {
			t.Fatalf("provision of an app whose env file sets DATABASE_URL: %v\n%s", err, out)
		}
		if roles := root(t, `cd / && runuser -u postgres -- psql -X -Atc "SELECT count(*) FROM pg_roles WHERE rolname = 'ext'" -c "SELECT count(*) FROM pg_database WHERE datname = 'ext'"`); roles != "0\n0\n" {
			t.Errorf("role and database ext: %q, want none", roles)
		}
	})
	journal := root(t, "journalctl --no-pager -o cat")
	for i, s := range []string{pw, pepper, adminPW} {
		if strings.Contains(journal, s) {
			t.Errorf("secret %d (database password, pepper, admin password) is in the journal", i)
		}
	}
	t.Logf("whole flow in %s", time.Since(start).Round(time.Second))
}
