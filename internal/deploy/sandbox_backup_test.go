package deploy

// Backups on the sandbox: taken by deploys whose release has migrations
// pending, restored with the release that matches, whatever happens to the
// client meanwhile.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slipway-dev/slipway/internal/admin/admintest"
	"github.com/slipway-dev/slipway/internal/backup"
	"github.com/slipway-dev/slipway/internal/createadmin"
	"github.com/slipway-dev/slipway/internal/dev"
	"github.com/slipway-dev/slipway/internal/devdb"
	"github.com/slipway-dev/slipway/internal/envfile"
	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/psql"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest/apptest"
	"github.com/slipway-dev/slipway/internal/service"
	"github.com/slipway-dev/slipway/internal/testenv"
)

func (e sandboxEnv) backups(t *testing.T) []backup.Info {
	t.Helper()
	all, err := Backups(context.Background(), e.options(new(bytes.Buffer), ""))
	if err != nil {
		t.Fatal(err)
	}
	return all[e.sb.Alias]
}

func (e sandboxEnv) users(t *testing.T, db string) string {
	t.Helper()
	return e.psql(t, db, "SELECT count(*) FROM users")
}

// password is the one in a sandbox DatabaseURL.
func password(t *testing.T, url string) string {
	t.Helper()
	pass := strings.TrimPrefix(strings.SplitN(url, "@", 2)[0], "postgres://app:")
	if len(pass) < 8 {
		t.Fatalf("no password in the URL")
	}
	return pass
}

func TestBackupsOnSandbox(t *testing.T) {
	// An app of its own: the other tests' deploy.log and releases stay theirs.
	svc := service.DefaultConfig()
	svc.AppName, svc.DeployPath = "bkapp", "/home/admin/bk"
	e := provisionedAs(t, svc)
	const db = "bkdata"
	ctx := context.Background()
	dbURL, err := e.sb.FreshDatabase(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	// The admin area on, so that a login proves the app serves the users.
	if err := apptest.WriteEnv(ctx, e.sb, e.svc.EnvFile(), "DATABASE_URL="+dbURL+"\nPASSWORD_PEPPER=backup-test-pepper-0123456789abcdef\n"); err != nil {
		t.Fatal(err)
	}
	const email, pw = "ops@example.com", "correct horse battery staple"
	base := "http://" + e.svc.ListenAddr
	t.Cleanup(func() {
		e.sh(t, "for u in $(systemctl list-units --plain --no-legend --all 'bkapp@*' | awk '{print $1}'); do systemctl stop $u; done; rm -rf "+e.svc.DeployPath+"; runuser -u postgres -- psql -qc 'DROP DATABASE IF EXISTS bkdata_restore'")
	})
	first := appBinary(t, "bk1", "bb0de001")
	same := appBinary(t, "bk2", "bb0de002")
	wipe := extraMigrationBinary(t, "bk3", "bb0de003", "00050_wipe_users.sql",
		"-- +goose Up\n-- slipway:allow destructive the test's bad migration\nDELETE FROM users;\n\n-- +goose Down\nSELECT 1;\n")

	var a Result
	t.Run("a deploy whose release has migrations pending backs up first", func(t *testing.T) {
		var out bytes.Buffer
		a = deployOK(t, e.options(&out, first))
		list := e.backups(t)
		if len(list) != 1 || list[0].ID != a.Release || list[0].Kind != backup.KindDeploy {
			t.Fatalf("backups %+v, want one named after release %s\n%s", list, a.Release, out.String())
		}
		mode := e.sh(t, "stat -c '%a %U' "+e.svc.DeployPath+"/backups/"+a.Release+".dump")
		if mode != "600 admin" {
			t.Errorf("dump is %q, want 600 admin: the service user must not read it", mode)
		}
		if got := e.sh(t, "runuser -u app -- cat "+e.svc.DeployPath+"/backups/"+a.Release+".dump >/dev/null 2>&1 && echo readable || echo refused"); got != "refused" {
			t.Errorf("the service user can read the dump")
		}
		log := e.sh(t, "tail -n 1 "+e.svc.DeployPath+"/deploy.log")
		if !strings.Contains(log, "backup="+a.Release) || !strings.Contains(log, "backup_schema=0") || !strings.Contains(log, "backup_size=") {
			t.Errorf("deploy.log's last line records no backup: %s", log)
		}
	})
	if err := createadmin.Run(ctx, sandboxtest.Dial(t, e.sb), e.svc, createadmin.Options{Email: email, Password: pw, Stdout: new(bytes.Buffer)}); err != nil {
		t.Fatal(err)
	}
	e.psql(t, db, "INSERT INTO users (email, password_hash) SELECT 'u'||g||'@example.com', 'x' FROM generate_series(1, 24) g")
	if ok, page := admintest.Login(t, base, email, pw); !ok {
		t.Fatalf("the admin can't log in before anything happened:\n%s", page)
	}

	var b Result
	t.Run("a deploy without pending migrations takes none", func(t *testing.T) {
		var out bytes.Buffer
		b = deployOK(t, e.options(&out, same))
		if n := len(e.backups(t)); n != 1 {
			t.Errorf("%d backups, want still 1\n%s", n, out.String())
		}
		if !strings.Contains(out.String(), "no migrations pending") {
			t.Errorf("output does not say why no backup:\n%s", out.String())
		}
		t.Logf("deploy without pending migrations:\n%s", out.String())
	})

	var c Result
	t.Run("a migration that deletes rows is backed up before it runs", func(t *testing.T) {
		var out bytes.Buffer
		c = deployOK(t, e.options(&out, wipe))
		if got := e.users(t, db); got != "0" {
			t.Fatalf("%s users after the wiping migration", got)
		}
		if ok, _ := admintest.Login(t, base, email, pw); ok {
			t.Error("the admin still logs in after the migration deleted every user")
		}
		list := e.backups(t)
		if len(list) != 2 || list[0].ID != c.Release || list[0].Schema != 4 || list[0].Release != b.Release {
			t.Fatalf("backups %+v, want the newest %s at schema 4 taken while %s served\n%s", list, c.Release, b.Release, out.String())
		}
	})

	t.Run("DEPLOY_BACKUP=off deploys without one and says so", func(t *testing.T) {
		var out bytes.Buffer
		o := e.options(&out, first)
		o.NoBackup = true
		deployOK(t, o)
		if n := len(e.backups(t)); n != 2 || !strings.Contains(out.String(), "DEPLOY_BACKUP=off") {
			t.Errorf("%d backups, output:\n%s", n, out.String())
		}
		// Back to the wiping release (already migrated: no backup).
		deployOK(t, e.options(new(bytes.Buffer), wipe))
	})

	t.Run("a backup that fails refuses the deploy before anything stops", func(t *testing.T) {
		pid := e.pid(t, c.Release)
		e.sh(t, "systemctl stop postgresql")
		defer e.sh(t, "systemctl start postgresql")
		var out bytes.Buffer
		_, err := Deploy(ctx, e.options(&out, extraMigrationBinary(t, "bk4", "bb0de004", "00051_more.sql", "-- +goose Up\nSELECT 1;\n\n-- +goose Down\nSELECT 1;\n")), false)
		if err == nil || !strings.Contains(err.Error(), "not deployed, nothing was stopped") || strings.Count(err.Error(), "\n") > 0 {
			t.Fatalf("deploy with the database down: %v\n%s", err, out.String())
		}
		if got := e.pid(t, c.Release); got != pid {
			t.Errorf("the live instance was restarted (pid %s, was %s)", got, pid)
		}
		if n := len(e.backups(t)); n != 2 {
			t.Errorf("%d backups after a failed one, want 2 (nothing half-written)", n)
		}
	})
	e.sh(t, "until runuser -u postgres -- psql -qAtc 'SELECT 1' >/dev/null 2>&1; do sleep 0.2; done")

	t.Run("an unknown backup id is one line naming the valid ones", func(t *testing.T) {
		_, err := Restore(context.Background(), e.options(new(bytes.Buffer), ""), RestoreOptions{Backup: "nope"})
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), c.Release) {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("a corrupt dump is refused and nothing changes", func(t *testing.T) {
		bad := "20260101T000000Z-manual"
		dir := e.svc.DeployPath + "/backups/"
		e.sh(t, fmt.Sprintf("cd %s && head -c 2000 %s.dump > %s.dump && sed 's/^kind=.*/kind=manual/' %s.meta > %s.meta && chown admin %s.*", dir, c.Release, bad, c.Release, bad, bad))
		t.Cleanup(func() { e.sh(t, "rm -f "+dir+bad+".*") })
		var out bytes.Buffer
		_, err := Restore(context.Background(), e.options(&out, ""), RestoreOptions{Backup: bad})
		if err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Fatalf("restore of a truncated dump: %v\n%s", err, out.String())
		}
		e.settle(t, time.Minute)
		e.consistent(t, c.Release)
		if got := e.users(t, db); got != "0" {
			t.Errorf("%s users: the live database changed", got)
		}
	})

	t.Run("a restore whose client is killed -9 mid-pg_restore leaves the live database serving", func(t *testing.T) {
		// A backup big enough that its pg_restore takes a while, of a table
		// the live database then drops.
		e.psql(t, db, "CREATE TABLE filler AS SELECT g AS id, repeat(md5(g::text), 32) AS body FROM generate_series(1, 100000) g; ALTER TABLE filler OWNER TO app")
		// ps, sampled all along the backup, never shows the password.
		stop, sampled := make(chan struct{}), make(chan string)
		go func() {
			var all strings.Builder
			for {
				select {
				case <-stop:
					sampled <- all.String()
					return
				default:
				}
				out, _ := e.sb.Run(ctx, "ps", "-eo", "args")
				all.WriteString(out)
			}
		}()
		big, err := Backup(ctx, e.options(new(bytes.Buffer), ""))
		close(stop)
		ps := <-sampled
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(ps, "pg_dump") {
			t.Errorf("ps never caught pg_dump running: the check saw nothing")
		}
		if strings.Contains(ps, password(t, dbURL)) {
			t.Errorf("ps showed the database password during a backup")
		}
		e.psql(t, db, "DROP TABLE filler")
		rc := startRestoreClient(t, e, big[0].ID, "swapping")
		rc.waitStep(t, "preparing")
		// The helper's restore-prepare runs pg_restore as the service user.
		rc.waitServer(t, "pgrep -u app -x pg_restore >/dev/null && echo restoring || true", "restoring")
		rc.kill(t)
		e.settle(t, 2*time.Minute)
		e.consistent(t, c.Release)
		if got := e.users(t, db); got != "0" {
			t.Errorf("%s users: the interrupted restore reached the live database", got)
		}
		if got := e.psql(t, db, "SELECT count(*) FROM pg_tables WHERE tablename = 'filler'"); got != "0" {
			t.Error("the interrupted restore's table is in the live database")
		}
	})

	t.Run("restore brings the deleted rows back with the release that matches", func(t *testing.T) {
		var out bytes.Buffer
		asked := ""
		res, err := Restore(context.Background(), e.options(&out, ""), RestoreOptions{Backup: c.Release,
			Confirm: func(q string) (bool, error) { asked = q; return true, nil }})
		if err != nil {
			t.Fatalf("restore: %v\n%s", err, out.String())
		}
		t.Logf("restore:\n%s", out.String())
		if !strings.Contains(asked, c.Release) {
			t.Errorf("confirmation %q names no backup", asked)
		}
		if got := e.users(t, db); got != "25" {
			t.Errorf("%s users after the restore, want 25", got)
		}
		if ok, page := admintest.Login(t, base, email, pw); !ok {
			t.Errorf("the restored admin can't log in:\n%s", page)
		}
		if res.Release != b.Release || res.Downtime <= 0 || res.PreRestore == "" {
			t.Errorf("result %+v, want release %s (schema 4, newest) and a downtime", res, b.Release)
		}
		e.settle(t, time.Minute)
		e.consistent(t, b.Release)
		if got := e.servingCommit(t); got != "bb0de002" {
			t.Errorf("serving %s", got)
		}
		if resp, err := http.Get("http://" + e.svc.ListenAddr + "/readyz"); err != nil || resp.StatusCode != 200 {
			t.Errorf("/readyz after the restore: %v %v", err, resp)
		} else {
			resp.Body.Close()
		}
		list := e.backups(t)
		if list[0].ID != res.PreRestore || list[0].Kind != backup.KindPreRestore || list[0].Schema != 50 {
			t.Errorf("newest backup %+v, want the pre-restore one at schema 50", list[0])
		}
		if log := e.sh(t, "tail -n 1 "+e.svc.DeployPath+"/deploy.log"); !strings.Contains(log, "restore ") || !strings.Contains(log, "backup="+c.Release) || !strings.Contains(log, "downtime=") {
			t.Errorf("deploy.log: %s", log)
		}
		if ps := e.sh(t, "grep -rl postgres://app /run/slipway-* 2>/dev/null || true"); ps != "" {
			t.Errorf("the database URL left on the server in %s", ps)
		}
	})

	t.Run("a restore whose client is killed -9 during the swap is finished by the server", func(t *testing.T) {
		// Undo the restore: back to the pre-restore backup (schema 50, no users).
		pre := e.backups(t)[0]
		// The client says "swapping" before it sends the request: kill it
		// only once the server has the swap (its detached unit's output
		// file, which the unit's request comes with), or a slow machine
		// tests a restore killed before the swap. Then the server finishes:
		// the output ends with the swap's result line.
		outs := "ls " + helper.DetachDir + "/" + strings.TrimSuffix(e.svc.HandoverUnitFor("restore-swap-*"), ".service") + ".out 2>/dev/null || true"
		before := strings.Fields(e.sh(t, outs))
		rc := startRestoreClient(t, e, pre.ID, "")
		rc.waitStep(t, "swapping")
		var out string
		for deadline := time.Now().Add(time.Minute); out == ""; time.Sleep(20 * time.Millisecond) {
			for _, f := range strings.Fields(e.sh(t, outs)) {
				if !slices.Contains(before, f) {
					out = f
				}
			}
			if out == "" && time.Now().After(deadline) {
				t.Fatalf("the server got no swap request within a minute of the client's swapping step")
			}
		}
		rc.kill(t)
		rc.waitServer(t, "grep -q '^result ' "+out+" && echo finished || true", "finished")
		t.Logf("the server's swap, its client killed: %s", e.sh(t, "grep '^result ' "+out))
		e.settle(t, 2*time.Minute)
		e.consistent(t, c.Release)
		if got := e.users(t, db); got != "0" {
			t.Errorf("%s users, want the pre-restore database's 0", got)
		}
	})

	t.Run("the database password is in no log and no file left behind", func(t *testing.T) {
		pass := password(t, dbURL)
		leak := e.sh(t, "{ journalctl -o cat --no-pager; cat "+e.svc.DeployPath+"/deploy.log "+e.svc.DeployPath+"/backups/*.meta; ls /run; } | grep -c -F -- "+shellQuote(pass)+" || true")
		if leak != "0" {
			t.Errorf("the password shows %s time(s) in the journal, deploy.log or .meta files", leak)
		}
	})

	// pull runs pullDB of the newest backup (fresh: one taken now) into a
	// local database of its own, and returns how many users it holds.
	pull := func(t *testing.T, fresh bool) int {
		t.Helper()
		getenv := func(string) string { return "" }
		// The cluster runs as postgres, which must enter the folder
		// (t.TempDir's parent is private to root).
		root, err := os.MkdirTemp("", "pulldb-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(root) })
		if err := os.Chmod(root, 0o711); err != nil {
			t.Fatal(err)
		}
		local, err := dev.LocalDatabase(ctx, root, getenv)
		if err != nil {
			testenv.Need(t, false, fmt.Sprintf("a local PostgreSQL (postgresql server binaries): %v", err))
		}
		defer local.Release()
		var out bytes.Buffer
		err = devdb.PullDB(ctx, devdb.Options{Root: root, Getenv: getenv, Stdout: &out}, func(dst string) (string, error) {
			id, err := FetchBackup(ctx, e.options(&out, ""), "", fresh, dst)
			return "backup " + id, err
		})
		if err != nil {
			t.Fatalf("pullDB: %v\n%s", err, out.String())
		}
		conn, err := pgx.Connect(ctx, local.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
			t.Fatalf("local users: %v\n%s", err, out.String())
		}
		return n
	}

	t.Run("pullDB loads the newest backup into the local database", func(t *testing.T) {
		// The newest: the last restore's pre-restore backup, of the 25 users.
		if n := pull(t, false); n != 25 {
			t.Errorf("local users: %d; want the server's 25", n)
		}
	})

	t.Run("a backup can be fetched byte for byte", func(t *testing.T) {
		local := filepath.Join(t.TempDir(), "x.dump")
		id, err := FetchBackup(context.Background(), e.options(new(bytes.Buffer), ""), "", false, local)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(local)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		remoteSum := e.sh(t, "sha256sum "+e.svc.DeployPath+"/backups/"+id+".dump | cut -d' ' -f1")
		if hex.EncodeToString(sum[:]) != remoteSum {
			t.Errorf("fetched %d bytes that differ from the server's %s", len(data), id)
		}
	})

	// The release a restore undid is the default rollback target from then
	// on: a plain rollback would apply the wiping migration again.
	tamper := func(t *testing.T, release string) (undo func()) {
		t.Helper()
		bin := e.svc.ReleasesDir() + "/" + release + "/app"
		e.sh(t, "cp -p "+bin+" "+bin+".orig && printf x >> "+bin)
		return func() { e.sh(t, "mv -f "+bin+".orig "+bin) }
	}
	t.Run("restore refuses a release binary that changed since it was installed", func(t *testing.T) {
		e.consistent(t, c.Release)
		undo := tamper(t, b.Release)
		defer undo()
		var out bytes.Buffer
		_, err := Restore(ctx, e.options(&out, ""), RestoreOptions{Backup: c.Release})
		if err == nil || !strings.Contains(err.Error(), "changed since it was installed") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("restore to a tampered release: %v\n%s", err, out.String())
		}
		e.consistent(t, c.Release)
		if got := e.users(t, db); got != "0" {
			t.Errorf("%s users: the refused restore changed the database", got)
		}
	})
	t.Run("rollback after a restore refuses to apply the migration the restore undid", func(t *testing.T) {
		if _, err := Restore(ctx, e.options(new(bytes.Buffer), ""), RestoreOptions{Backup: c.Release}); err != nil {
			t.Fatal(err)
		}
		if got := e.users(t, db); got != "25" {
			t.Fatalf("%s users after the restore, want 25", got)
		}
		n := len(e.backups(t))
		var out bytes.Buffer
		err := Rollback(ctx, e.options(&out, ""), "")
		if err == nil || !strings.Contains(err.Error(), "00050_wipe_users.sql") || !strings.Contains(err.Error(), "-release="+c.Release) || strings.Contains(err.Error(), "\n") {
			t.Errorf("rollback after restore: %v\n%s", err, out.String())
		}
		t.Logf("rollback after restore: %v", err)
		if got := e.users(t, db); got != "25" {
			t.Errorf("%s users after restore then rollback, want the restored 25", got)
		}
		e.consistent(t, b.Release)
		if got := len(e.backups(t)); got != n {
			t.Errorf("%d backups, want %d: a refused rollback takes none", got, n)
		}
	})
	t.Run("a rollback named explicitly to a release with migrations pending backs up first", func(t *testing.T) {
		newest := e.backups(t)[0].ID
		var out bytes.Buffer
		if err := Rollback(ctx, e.options(&out, ""), c.Release); err != nil {
			t.Fatalf("rollback -release=%s: %v\n%s", c.Release, err, out.String())
		}
		if !strings.Contains(out.String(), "1 migration(s) pending") || !strings.Contains(out.String(), "backing up first") {
			t.Errorf("rollback output does not say it backs up first:\n%s", out.String())
		}
		list := e.backups(t)
		if list[0].ID == newest || list[0].Kind != backup.KindDeploy || list[0].Schema != 4 || list[0].Release != b.Release {
			t.Errorf("newest backup %+v, want a new one at schema 4 taken while %s served", list[0], b.Release)
		}
		if got := e.users(t, db); got != "0" {
			t.Errorf("%s users: the named release's migration did not run", got)
		}
		e.consistent(t, c.Release)
	})
	t.Run("rollback refuses a release binary that changed since it was installed", func(t *testing.T) {
		undo := tamper(t, b.Release)
		defer undo()
		var out bytes.Buffer
		err := Rollback(ctx, e.options(&out, ""), "")
		if err == nil || !strings.Contains(err.Error(), "changed since it was installed") {
			t.Fatalf("rollback to a tampered release: %v\n%s", err, out.String())
		}
		e.consistent(t, c.Release)
	})

	// The app's database in libpq's key=value form, with password
	// authentication, the app role's password holding what a shell or a
	// hand-written URL parser breaks on: backups, restores, psql and
	// pullDB read it as the app's pgx does (helper.DatabaseEnv).
	t.Run("a key=value DATABASE_URL with a password holding $ \" ' \\ and spaces", func(t *testing.T) {
		const hard = `p$a "s' w\o#r=d $HOME`
		orig := password(t, dbURL)
		alter := func(pw string) {
			t.Helper()
			cmd := e.sb.Command(ctx, "runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1")
			cmd.Stdin = strings.NewReader("ALTER ROLE app PASSWORD '" + strings.ReplaceAll(pw, "'", "''") + "';\n")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("alter role app: %v: %s", err, out)
			}
		}
		writeEnv := func(url string) {
			t.Helper()
			cmd := e.sb.Command(ctx, "sh", "-c", "umask 077; cat > "+e.svc.EnvFile())
			cmd.Stdin = strings.NewReader("DATABASE_URL=" + envfile.Encode(url) + "\nPASSWORD_PEPPER=backup-test-pepper-0123456789abcdef\n")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("write env file: %v: %s", err, out)
			}
		}
		alter(hard)
		kv := "host=/var/run/postgresql user=app dbname=" + db + " password='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(hard) + "'"
		writeEnv(kv)
		// Password authentication for the app's role on this database (the
		// sandbox's other databases keep theirs).
		hba := "/etc/postgresql/*/main/pg_hba.conf"
		e.sh(t, "sed -i '1i local "+db+" app scram-sha-256' "+hba+" && systemctl reload postgresql")
		t.Cleanup(func() {
			e.sh(t, "sed -i '/^local "+db+" app scram-sha-256$/d' "+hba+" && systemctl reload postgresql")
			alter(orig)
			writeEnv(dbURL)
		})
		if got := e.sh(t, "runuser -u app -- psql -X -w -d "+db+" -Atc 'SELECT 1' 2>&1 || true"); !strings.Contains(got, "password") {
			t.Fatalf("the app's role logs in without its password: %s", got)
		}
		e.consistent(t, c.Release)

		var taken backup.Info
		t.Run("backup", func(t *testing.T) {
			var out bytes.Buffer
			t0 := time.Now()
			list, err := Backup(ctx, e.options(&out, ""))
			if err != nil || len(list) != 1 {
				t.Fatalf("backup: %v\n%s", err, out.String())
			}
			taken = list[0]
			t.Logf("backup %s: %s wall, pg_dump and its check %s on the server", taken.ID, time.Since(t0).Round(time.Millisecond), taken.Duration)
			if taken.Schema != 50 || taken.Size == 0 {
				t.Errorf("backup %+v, want the database at schema 50", taken)
			}
		})
		if taken.ID == "" {
			t.FailNow()
		}
		e.psql(t, db, "INSERT INTO users (email, password_hash) VALUES ('late1@example.com', 'x'), ('late2@example.com', 'x')")

		t.Run("restore", func(t *testing.T) {
			var out bytes.Buffer
			res, err := Restore(ctx, e.options(&out, ""), RestoreOptions{Backup: taken.ID})
			if err != nil {
				t.Fatalf("restore: %v\n%s", err, out.String())
			}
			if got := e.users(t, db); got != "0" {
				t.Errorf("%s users after restoring %s, want its 0", got, taken.ID)
			}
			if res.Release != c.Release {
				t.Errorf("restored with release %s, want %s", res.Release, c.Release)
			}
			// The instance the swap started reads the key=value URL too.
			e.settle(t, time.Minute)
			e.consistent(t, c.Release)
			if resp, err := http.Get(base + "/readyz"); err != nil || resp.StatusCode != 200 {
				t.Errorf("/readyz on the key=value URL: %v %v", err, resp)
			} else {
				resp.Body.Close()
			}
		})

		t.Run("psql", func(t *testing.T) {
			var pout, perr bytes.Buffer
			err := psql.Run(ctx, sandboxtest.Dial(t, e.sb), e.svc, psql.Options{SQL: "SELECT current_user || ' ' || current_database() || ' ' || (40 + 2)"}, nil, &pout, &perr)
			if err != nil || !strings.Contains(pout.String(), "app "+db+" 42") {
				t.Errorf("psql -c: %v\n%s%s", err, pout.String(), perr.String())
			}
		})

		t.Run("pullDB", func(t *testing.T) {
			e.psql(t, db, "INSERT INTO users (email, password_hash) VALUES ('pulled@example.com', 'x')")
			if n := pull(t, true); n != 1 {
				t.Errorf("local users: %d; want the server's 1, of a backup taken now", n)
			}
		})

		t.Run("the password is in no log, file or process's arguments left behind", func(t *testing.T) {
			// Searched here: a grep there would hold the password in its own
			// arguments.
			all := e.sh(t, "journalctl -o cat --no-pager; cat "+e.svc.DeployPath+"/deploy.log "+e.svc.DeployPath+"/backups/*.meta; ls /run; ps -eo args")
			if leak := strings.Count(all, `w\o#r=d`); leak != 0 {
				t.Errorf("the password shows %d time(s) in the journal, deploy.log, .meta files or ps", leak)
			}
		})
	})
}

// startRestoreClient is a restore in a process of its own, to be killed -9.
func startRestoreClient(t *testing.T, e sandboxEnv, id, pause string) *client {
	t.Helper()
	return startProcess(t, e, clientEnv, clientSpec{Alias: e.sb.Alias, SSHConfig: e.sb.ConfigPath,
		DeployPath: e.svc.DeployPath, Listen: e.svc.ListenAddr, Backup: id, Pause: pause, AppName: e.svc.AppName})
}
