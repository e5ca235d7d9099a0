package helper

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slipway-dev/slipway/internal/envfile"
	"github.com/slipway-dev/slipway/internal/pgcluster"
	"github.com/slipway-dev/slipway/internal/testenv"
)

// hardPassword holds what broke the shell's reading of a URL: $ " ' \ and
// spaces (and a # and a =).
const hardPassword = `p$a "s' w\o#r=d $HOME`

// dbServer is a real local PostgreSQL cluster (pgcluster, as pgtest's) in
// which role app logs in with hardPassword over scram-sha-256 on the
// socket, and owns database appdb holding goose's table at version 7 and a
// table of 3 rows. svcUser is the OS user that reaches the socket.
type dbServer struct {
	c       *pgcluster.Cluster
	svcUser string
}

func startDB(t *testing.T) dbServer {
	t.Helper()
	for _, tool := range []string{"pg_dump", "pg_restore", "psql"} {
		_, err := exec.LookPath(tool)
		testenv.Need(t, err == nil, tool+" (apt-get install postgresql-client)")
	}
	ctx := context.Background()
	c, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		testenv.Need(t, false, fmt.Sprintf("a local PostgreSQL (%v)", err))
	}
	t.Cleanup(func() { c.Stop() })
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var hba string
	for _, q := range []string{
		"SET password_encryption = 'scram-sha-256'",
		"CREATE ROLE app LOGIN PASSWORD " + quoteLiteral(hardPassword),
		"CREATE DATABASE appdb OWNER app",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := conn.QueryRow(ctx, "SHOW hba_file").Scan(&hba); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(hba)
	if err != nil {
		t.Fatal(err)
	}
	// app needs its password; the superuser stays trusted (the cluster's
	// socket is in a folder only its OS user enters).
	if err := os.WriteFile(hba, append([]byte("local all app scram-sha-256\n"), old...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	fi, err := os.Stat(c.SocketDir())
	if err != nil {
		t.Fatal(err)
	}
	u, err := user.LookupId(strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid)))
	if err != nil {
		t.Fatal(err)
	}
	s := dbServer{c: c, svcUser: u.Username}
	s.exec(t, "appdb", "CREATE TABLE goose_db_version (id serial, version_id bigint, is_applied bool, tstamp timestamp DEFAULT now())",
		"INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (7, true)",
		"CREATE TABLE notes (id int PRIMARY KEY, body text)",
		"INSERT INTO notes VALUES (1, 'a'), (2, 'b'), (3, 'c')")
	return s
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// appURL is app's key=value connection string for db, password quoted as
// libpq reads it.
func (s dbServer) appURL(db string) string {
	pw := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(hardPassword)
	return fmt.Sprintf("host=%s port=%d user=app password='%s' dbname=%s sslmode=disable", s.c.SocketDir(), s.c.Port(), pw, db)
}

// exec runs statements as app, logged in with its password.
func (s dbServer) exec(t *testing.T, db string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.appURL(db))
	if err != nil {
		t.Fatalf("connect as app: %v", err)
	}
	defer conn.Close(ctx)
	for _, q := range stmts {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func (s dbServer) count(t *testing.T, db, q string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.c.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// appRoot is a server's folders under a temporary root: the env file
// /etc/app/app.env holding content and /srv/app/releases.
func appRoot(t *testing.T, content string) *Env {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"/etc/app", "/srv/app/releases"} {
		if err := os.MkdirAll(root+d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(root+"/etc/app/app.env", []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return &Env{Root: root, Sys: NewFakeSystemd()}
}

// envLine is DATABASE_URL=value as env:set writes it.
func envLine(value string) string { return "DATABASE_URL=" + envfile.Encode(value) + "\n" }

// runStep runs a registered step as Main does, with args as its request, and
// returns its lines and exit status.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

func dbArgs(svcUser string) DBArgs {
	return DBArgs{DeployPath: "/srv/app", EnvFile: "/etc/app/app.env", URLVar: "DATABASE_URL", User: svcUser}
}

func TestDatabaseEnvReadsTheURLAsSystemdGivesItToTheApp(t *testing.T) {
	kv := `host=/run/postgresql port=5433 user=app password='p$a "s\' w\\o#r=d $HOME' dbname=appdb`
	for name, tc := range map[string]struct{ file, want string }{
		"key=value, quoted for systemd": {"# the app's\nNO_MIGRATE=false\n" + envLine(kv),
			`PGDATABASE=appdb PGHOST=/run/postgresql PGPASSWORD=` + hardPassword + ` PGPORT=5433 PGSSLMODE=disable PGUSER=app`},
		"URL, percent-encoded": {envLine("postgres://" + url.UserPassword("app", hardPassword).String() + "@db.example.com:6432/app_prod?sslmode=verify-full&pool_max_conns=4"),
			`PGDATABASE=app_prod PGHOST=db.example.com PGPASSWORD=` + hardPassword + ` PGPORT=6432 PGSSLMODE=verify-full PGUSER=app`},
	} {
		t.Run(name, func(t *testing.T) {
			e := appRoot(t, tc.file)
			vars, err := DatabaseEnv(e, "/etc/app/app.env", "DATABASE_URL")
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(vars, " "); got != tc.want {
				t.Errorf("vars\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestDatabaseEnvRefusesInOneLineWithoutThePassword(t *testing.T) {
	for content, want := range map[string]string{
		"PASSWORD_PEPPER=x\n":                  "sets no DATABASE_URL",
		"DATABASE_URL=\n":                      "sets no DATABASE_URL",
		envLine("postgres://app:s3cr3t@h:x/a"): "not a database URL pgx accepts",
		"DATABASE_URL=a\x00b\n":                "NUL byte",
		envLine("host=/tmp password=s3cr3t x"): "not a database URL pgx accepts",
	} {
		e := appRoot(t, content)
		_, err := DatabaseEnv(e, "/etc/app/app.env", "DATABASE_URL")
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%q: %v, want one line with %q and no password", content, err, want)
		}
	}
	e := appRoot(t, "")
	if _, err := DatabaseEnv(e, "/etc/app/none.env", "DATABASE_URL"); err == nil || !strings.Contains(err.Error(), "no env file /etc/app/none.env: run provision") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := DatabaseEnv(e, "/etc/app/app.env", "DATABASE URL"); err == nil || !strings.Contains(err.Error(), "letters, digits and _") {
		t.Errorf("bad variable name: %v", err)
	}
}

func TestBackupStepsRefuseADatabaseNameTheyCantNameCopiesAfter(t *testing.T) {
	for content, want := range map[string]string{
		envLine("postgres://app@localhost/"):         "names no database",
		envLine("postgres://app@localhost/app;drop"): "letters, digits and _ only",
	} {
		e := appRoot(t, content)
		if err := os.MkdirAll(e.Path("/srv/app/backups"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(e.Path("/srv/app/backups/20261207T100000Z-manual.dump"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, code := runStep(t, *e, "restore-prepare", RestorePrepareArgs{DBArgs: dbArgs("nobody"), ID: "20261207T100000Z-manual", Schema: 1})
		if code != 1 || !strings.Contains(lastLine(out), want) {
			t.Errorf("%q: exit %d, %s; want a failure with %q", content, code, out, want)
		}
	}
}

func TestSuperuserReachesTheServerOverTheURLsSocketOrTheDefaultOne(t *testing.T) {
	for url, want := range map[string]string{
		"postgres://app:x@/bkdata?host=/var/run/postgresql": "PGUSER=postgres PGDATABASE=postgres PGHOST=/var/run/postgresql PGPORT=5432",
		"host=127.0.0.1 port=5433 dbname=bkdata user=app":   "PGUSER=postgres PGDATABASE=postgres PGPORT=5433",
	} {
		e := appRoot(t, envLine(url))
		vars, err := DatabaseEnv(e, "/etc/app/app.env", "DATABASE_URL")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(superuserVars(vars), " "); got != want {
			t.Errorf("%s: %s, want %s", url, got, want)
		}
	}
}

// takeArgs are a manual backup's.
func takeArgs(svcUser, id string, keep int) BackupTakeArgs {
	return BackupTakeArgs{DBArgs: dbArgs(svcUser), ID: id, Release: "r1", Kind: "manual", Keep: keep, Host: "prod"}
}

func TestBackupTakeDumpsWithAKeyValueURLAndAHardPasswordIntoTheV020Layout(t *testing.T) {
	db := startDB(t)
	e := appRoot(t, "PASSWORD_PEPPER=x\n"+envLine(db.appURL("appdb")))
	e.Now = func() time.Time { return time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC) }
	owner := os.Getuid() + 1000
	if err := os.Chown(e.Path("/srv/app/releases"), owner, owner); err != nil {
		t.Fatal(err)
	}
	id := "20261207T100000Z-manual"
	out, code := runStep(t, *e, "backup-take", takeArgs(db.svcUser, id, 5))
	if code != 0 {
		t.Fatalf("backup-take: exit %d\n%s", code, out)
	}
	res := lastLine(out)
	t.Logf("backup-take: %s", res)
	if !strings.HasPrefix(res, "result ok id="+id+" size=") || !strings.Contains(res, " schema=7 duration_ms=") || !strings.HasSuffix(res, " pruned=-") {
		t.Errorf("result line %q", res)
	}
	bk := e.Path("/srv/app/backups")
	for name, mode := range map[string]os.FileMode{"": 0o700 | os.ModeDir, "/" + id + ".dump": 0o600, "/" + id + ".meta": 0o600} {
		fi, err := os.Stat(bk + name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != mode || int(fi.Sys().(*syscall.Stat_t).Uid) != owner {
			t.Errorf("backups%s: %v uid %d, want %v uid %d (the releases' owner)", name, fi.Mode(), fi.Sys().(*syscall.Stat_t).Uid, mode, owner)
		}
	}
	meta, _ := os.ReadFile(bk + "/" + id + ".meta")
	var keys []string
	for _, l := range strings.Split(strings.TrimSpace(string(meta)), "\n") {
		k, _, _ := strings.Cut(l, "=")
		keys = append(keys, k)
	}
	if got := strings.Join(keys, " "); got != "when size schema release kind duration_ms database" || !strings.Contains(string(meta), "when=2026-12-07T10:00:00Z\n") || !strings.Contains(string(meta), "database=appdb\n") {
		t.Errorf(".meta:\n%s", meta)
	}
	log, _ := os.ReadFile(e.Path("/srv/app/deploy.log"))
	if !strings.HasPrefix(string(log), "2026-12-07T10:00:00Z backup host=prod id="+id+" kind=manual release=r1 database=appdb schema=7 size=") {
		t.Errorf("deploy.log: %q", log)
	}
	if entries, _ := os.ReadDir(bk); len(entries) != 2 {
		t.Errorf("backups/ holds %d entries, want the dump and its .meta", len(entries))
	}
	if strings.Contains(out+string(meta)+string(log), "w\\o#r") {
		t.Error("the password shows in the output, .meta or deploy.log")
	}
	list, code := runStep(t, *e, "backup-list", BackupListArgs{DeployPath: "/srv/app"})
	if code != 0 || !strings.HasPrefix(list, "backup "+id+" file_size=") || !strings.Contains(list, " kind=manual ") {
		t.Errorf("backup-list: exit %d\n%s", code, list)
	}

	t.Run("restore-prepare restores it into <db>_restore, the live database untouched", func(t *testing.T) {
		db.exec(t, "appdb", "DELETE FROM notes")
		out, code := runStep(t, *e, "restore-prepare", RestorePrepareArgs{DBArgs: dbArgs(db.svcUser), ID: id, Schema: 7})
		if code != 0 || !strings.HasPrefix(lastLine(out), "result ok database=appdb_restore schema=7 duration_ms=") ||
			!strings.HasSuffix(lastLine(out), " live=appdb pghost="+db.c.SocketDir()+" pgport="+strconv.Itoa(db.c.Port())) {
			t.Fatalf("restore-prepare: exit %d\n%s", code, out)
		}
		if n := db.count(t, "appdb_restore", "SELECT count(*) FROM notes"); n != 3 {
			t.Errorf("%d notes restored, want 3", n)
		}
		if n := db.count(t, "appdb", "SELECT count(*) FROM notes"); n != 0 {
			t.Errorf("the live database changed: %d notes", n)
		}
		var owner string
		conn, _ := pgx.Connect(context.Background(), db.c.URL("postgres"))
		defer conn.Close(context.Background())
		_ = conn.QueryRow(context.Background(), "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'appdb_restore'").Scan(&owner)
		if owner != "app" {
			t.Errorf("appdb_restore is owned by %q, want the app's role", owner)
		}
	})

	t.Run("restore-prepare refuses a schema other than the record's and drops its copy", func(t *testing.T) {
		out, code := runStep(t, *e, "restore-prepare", RestorePrepareArgs{DBArgs: dbArgs(db.svcUser), ID: id, Schema: 8})
		if code != 1 || !strings.Contains(lastLine(out), "holds schema version 7, the backup's record says 8: nothing changed") {
			t.Fatalf("exit %d\n%s", code, out)
		}
		if n := db.count(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'appdb_restore'"); n != 0 {
			t.Error("appdb_restore left behind")
		}
	})

	t.Run("restore-prepare refuses a damaged dump before any database is created", func(t *testing.T) {
		bad := "20261207T100001Z-manual"
		data, _ := os.ReadFile(bk + "/" + id + ".dump")
		if err := os.WriteFile(bk+"/"+bad+".dump", data[:len(data)/3], 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(bk + "/" + bad + ".dump")
		out, code := runStep(t, *e, "restore-prepare", RestorePrepareArgs{DBArgs: dbArgs(db.svcUser), ID: bad, Schema: 7})
		if code != 1 || !strings.Contains(lastLine(out), "backup "+bad+" is damaged, not restored") {
			t.Fatalf("exit %d\n%s", code, out)
		}
		if n := db.count(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'appdb_restore'"); n != 0 {
			t.Error("a database was created for a damaged dump")
		}
	})

	t.Run("backup-take prunes to the newest keep", func(t *testing.T) {
		old := time.Now().Add(-time.Hour)
		for _, f := range []string{id + ".dump", id + ".meta"} {
			os.Chtimes(bk+"/"+f, old, old)
		}
		next := "20261207T110000Z-manual"
		out, code := runStep(t, *e, "backup-take", takeArgs(db.svcUser, next, 1))
		if code != 0 || !strings.HasSuffix(lastLine(out), " pruned="+id) {
			t.Fatalf("exit %d\n%s", code, out)
		}
		if entries, _ := os.ReadDir(bk); len(entries) != 2 || entries[0].Name() != next+".dump" {
			t.Errorf("backups/ holds %v, want only %s", entries, next)
		}
	})
}

func TestBackupTakeThatCantConnectWritesNothing(t *testing.T) {
	db := startDB(t)
	e := appRoot(t, envLine(fmt.Sprintf("host=%s port=%d user=app password=wrong dbname=appdb", db.c.SocketDir(), db.c.Port())))
	out, code := runStep(t, *e, "backup-take", takeArgs(db.svcUser, "20261207T100000Z-manual", 5))
	if code != 1 || !strings.HasPrefix(lastLine(out), "result failed cannot connect to database appdb as app: ") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if _, err := os.Stat(e.Path("/srv/app/backups")); !os.IsNotExist(err) {
		t.Errorf("backups/ was created: %v", err)
	}
	if _, err := os.Stat(e.Path("/srv/app/deploy.log")); !os.IsNotExist(err) {
		t.Errorf("deploy.log was written: %v", err)
	}
}

func TestBackupStepsRefuseBadArgumentsChangingNothing(t *testing.T) {
	e := appRoot(t, envLine("postgres://app@localhost/app"))
	good := takeArgs("app", "20261207T100000Z-manual", 5)
	for name, a := range map[string]func(*BackupTakeArgs){
		"id":          func(a *BackupTakeArgs) { a.ID = "../../etc/passwd" },
		"kind":        func(a *BackupTakeArgs) { a.Kind = "weekly" },
		"keep":        func(a *BackupTakeArgs) { a.Keep = 0 },
		"deploy path": func(a *BackupTakeArgs) { a.DeployPath = "/srv/app/../etc" },
		"user":        func(a *BackupTakeArgs) { a.User = "root --x" },
		"host":        func(a *BackupTakeArgs) { a.Host = "prod\nforged line" },
	} {
		args := good
		a(&args)
		out, code := runStep(t, *e, "backup-take", args)
		if code != 1 || !strings.HasPrefix(out, "result failed ") || !strings.Contains(out, name) || strings.Count(out, "\n") != 1 {
			t.Errorf("bad %s: exit %d, %q", name, code, out)
		}
	}
	if entries, _ := os.ReadDir(e.Path("/srv/app")); len(entries) != 1 {
		t.Errorf("/srv/app holds %v after refusals", entries)
	}
}

func TestBackupListIsNewestFirstAndEmptyWithoutBackups(t *testing.T) {
	e := appRoot(t, "")
	out, code := runStep(t, *e, "backup-list", BackupListArgs{DeployPath: "/srv/app"})
	if code != 0 || out != "result ok count=0\n" {
		t.Errorf("no backups/: exit %d, %q", code, out)
	}
	bk := e.Path("/srv/app/backups")
	os.MkdirAll(bk, 0o700)
	base := time.Now().Add(-time.Hour)
	for i, id := range []string{"20260101T000000Z-manual", "20260102T000000Z-deploy", "20260103T000000Z-manual"} {
		f := filepath.Join(bk, id+".dump")
		os.WriteFile(f, make([]byte, 10*(i+1)), 0o600)
		os.Chtimes(f, base.Add(time.Duration(i)*time.Minute), base.Add(time.Duration(i)*time.Minute))
	}
	os.WriteFile(filepath.Join(bk, "20260102T000000Z-deploy.meta"), []byte("when=2026-01-02T00:00:00Z\nsize=20\nschema=4\n"), 0o600)
	os.WriteFile(filepath.Join(bk, ".20260104T000000Z-manual.dump.tmp"), nil, 0o600)
	out, _ = runStep(t, *e, "backup-list", BackupListArgs{DeployPath: "/srv/app"})
	want := "backup 20260103T000000Z-manual file_size=30\n" +
		"backup 20260102T000000Z-deploy file_size=20 when=2026-01-02T00:00:00Z size=20 schema=4\n" +
		"backup 20260101T000000Z-manual file_size=10\n" +
		"result ok count=3\n"
	if out != want {
		t.Errorf("list\n%s\nwant\n%s", out, want)
	}
}
