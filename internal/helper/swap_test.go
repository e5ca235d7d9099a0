package helper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slipway-dev/slipway/internal/pgcluster"
	"github.com/slipway-dev/slipway/internal/pgenv"
	"github.com/slipway-dev/slipway/internal/testenv"
)

// swapDB is a real local PostgreSQL cluster holding the app's database
// appdb (marker 'live') and the restore's appdb_restore (marker
// 'restored'); admin reaches it as the superuser.
type swapDB struct {
	c     *pgcluster.Cluster
	admin pgAdmin
}

func startSwapDB(t *testing.T) swapDB {
	t.Helper()
	_, err := exec.LookPath("psql")
	testenv.Need(t, err == nil, "psql (apt-get install postgresql-client)")
	c, err := pgcluster.Start(context.Background(), pgcluster.Options{})
	if err != nil {
		testenv.Need(t, false, fmt.Sprintf("a local PostgreSQL (%v)", err))
	}
	t.Cleanup(func() { c.Stop() })
	vars, err := pgenv.Vars("DATABASE_URL", c.URL("appdb"))
	if err != nil {
		t.Fatal(err)
	}
	admin, db := pgAdmin{env: superuserVars(vars)}, dbVar(vars, "PGDATABASE")
	if db != "appdb" {
		t.Fatalf("database %q", db)
	}
	d := swapDB{c: c, admin: admin}
	for _, q := range []string{"CREATE DATABASE appdb", "CREATE DATABASE appdb_restore"} {
		d.exec(t, "postgres", q)
	}
	d.exec(t, "appdb", "CREATE TABLE marker (v text); INSERT INTO marker VALUES ('live')")
	d.exec(t, "appdb_restore", "CREATE TABLE marker (v text); INSERT INTO marker VALUES ('restored')")
	return d
}

func (d swapDB) exec(t *testing.T, db, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, d.c.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// marker is what database db's marker table holds, "" without the database.
func (d swapDB) marker(t *testing.T, db string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, d.c.URL(db))
	if err != nil {
		return ""
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SELECT v FROM marker").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func swapArgs(release string) SwapArgs {
	return SwapArgs{App: "app", DeployPath: testDP, EnvFile: "/etc/app/app.env", URLVar: "DATABASE_URL", Release: release, ReadyTimeoutMS: 2000}
}

func (s *server) swap(d swapDB, a SwapArgs) error {
	s.t.Helper()
	s.out.Reset()
	err := swap(context.Background(), s.e, a, d.admin, "appdb")
	s.t.Logf("swap to %s:\n%s", a.Release, s.out.String())
	return err
}

func TestSwapPutsTheRestoredDatabaseInPlaceAndStartsTheRelease(t *testing.T) {
	d := startSwapDB(t)
	s := newServer(t, "r1", "r2")
	s.link("current", "r1")
	s.live("app@r1.service", "r1")
	s.sys.OnStart = ready
	a := swapArgs("r2")
	a.LogLine = "2026-01-02T03:04:05Z restore backup=b1"
	if err := s.swap(d, a); err != nil {
		t.Fatal(err)
	}
	if got := d.marker(t, "appdb"); got != "restored" {
		t.Errorf("appdb holds %q, want the restored data", got)
	}
	for _, gone := range []string{"appdb_restore", "appdb_before_restore"} {
		if d.marker(t, gone) != "" {
			t.Errorf("%s is still there", gone)
		}
	}
	if s.target("current") != "r2" || s.target("previous") != "r1" {
		t.Errorf("current %s previous %s, want r2 r1", s.target("current"), s.target("previous"))
	}
	if s.sys.State("app@r1.service") != "inactive/dead" || s.sys.State("app@r2.service") != "active/running" {
		t.Error("want r1 stopped and r2 running")
	}
	log, _ := os.ReadFile(s.file("deploy.log"))
	if !strings.HasPrefix(string(log), a.LogLine+" release=r2 downtime=") || !strings.HasSuffix(string(log), "ms result=ok\n") {
		t.Errorf("deploy.log %q", log)
	}
	if !strings.Contains(s.out.String(), "result ok release=r2 downtime_ms=") {
		t.Error("no ok result with the downtime")
	}
}

func TestSwapUndoesAllWhenTheReleaseNeverGetsReady(t *testing.T) {
	d := startSwapDB(t)
	s := newServer(t, "r1", "r2", "r0")
	s.link("current", "r1")
	s.link("previous", "r0")
	s.live("app@r1.service", "r1")
	s.sys.OnStart = func(f *FakeSystemd, unit string) {
		if unit == "app@r2.service" {
			fails(f, unit)
			return
		}
		ready(f, unit)
	}
	err := s.swap(d, swapArgs("r2"))
	if !errors.Is(err, ErrFailed) || !strings.Contains(s.out.String(), "result failed app@r2.service did not get ready on the restored database") {
		t.Fatalf("error %v", err)
	}
	if d.marker(t, "appdb") != "live" || d.marker(t, "appdb_restore") != "restored" || d.marker(t, "appdb_before_restore") != "" {
		t.Error("the databases are not back as they were")
	}
	if s.target("current") != "r1" || s.target("previous") != "r0" {
		t.Errorf("current %s previous %s, want r1 r0 back", s.target("current"), s.target("previous"))
	}
	if s.sys.State("app@r1.service") != "active/running" || s.sys.State("app@r2.service") != "inactive/dead" {
		t.Error("want r1 serving again and r2 stopped")
	}
}

func TestSwapWithoutARestoredDatabaseChangesNothing(t *testing.T) {
	d := startSwapDB(t)
	d.exec(t, "postgres", "DROP DATABASE appdb_restore")
	s := newServer(t, "r1")
	s.link("current", "r1")
	s.live("app@r1.service", "r1")
	err := s.swap(d, swapArgs("r1"))
	if !errors.Is(err, ErrFailed) || !strings.Contains(s.out.String(), "no restored database appdb_restore") {
		t.Fatalf("error %v", err)
	}
	if len(s.sys.Called()) != 0 || d.marker(t, "appdb") != "live" {
		t.Errorf("changed something: %v", s.sys.Called())
	}
}

func TestSwapReadsTheDatabaseFromTheEnvFileAsSystemdDoes(t *testing.T) {
	s := newServer(t)
	os.MkdirAll(s.root+"/etc/app", 0o700)
	os.WriteFile(s.root+"/etc/app/app.env", []byte("# the app's\nDATABASE_URL=\"host=/run/postgresql dbname=shop user=app password='a b$c'\"\n"), 0o600)
	admin, db, err := swapDatabase(s.e, "/etc/app/app.env", "DATABASE_URL")
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Join(admin.env, " ")
	if db != "shop" || !strings.Contains(env, "PGHOST=/run/postgresql") || !strings.Contains(env, "PGUSER=postgres") || strings.Contains(env, "PGPASSWORD") {
		t.Errorf("db %q, admin env %q", db, env)
	}
	for content, want := range map[string]string{
		"OTHER=1\n":                          "sets no DATABASE_URL",
		"DATABASE_URL=postgres://h/a-b\n":    "letters, digits and _ only",
		"DATABASE_URL=postgres://h:x:y/db\n": "not a database URL",
	} {
		os.WriteFile(s.root+"/etc/app/app.env", []byte(content), 0o600)
		if _, _, err := swapDatabase(s.e, "/etc/app/app.env", "DATABASE_URL"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", content, err, want)
		}
	}
}

// The app's other hosts connect to the database again as soon as the swap
// ends their sessions (their pools, the load balancer's /readyz): the
// swap still renames, and they find the restored data.
func TestSwapWinsOverAnotherHostConnectingAgainAndAgain(t *testing.T) {
	d := startSwapDB(t)
	s := newServer(t, "r1", "r2")
	s.link("current", "r1")
	s.live("app@r1.service", "r1")
	s.sys.OnStart = ready
	ctx, cancel := context.WithCancel(context.Background())
	const clients = 4
	done := make(chan int)
	for range clients {
		// A session held open, opened again the moment it is ended.
		go func() {
			n := 0
			for ctx.Err() == nil {
				if conn, err := pgx.Connect(ctx, d.c.URL("appdb")); err == nil {
					n++
					_, _ = conn.Exec(ctx, "SELECT pg_sleep(30)")
					conn.Close(context.Background())
				}
			}
			done <- n
		}()
	}
	time.Sleep(200 * time.Millisecond)
	err := s.swap(d, swapArgs("r2"))
	cancel()
	n := 0
	for range clients {
		n += <-done
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := d.marker(t, "appdb"); got != "restored" {
		t.Errorf("appdb holds %q, want the restored data", got)
	}
	if n == 0 {
		t.Error("the other host never connected: the test proves nothing")
	}
}
