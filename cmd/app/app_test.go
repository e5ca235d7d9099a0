package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/build"
	"github.com/slipway-dev/slipway/internal/freeport"
	"github.com/slipway-dev/slipway/internal/pgtest"
	"github.com/slipway-dev/slipway/internal/syncbuf"
	"github.com/slipway-dev/slipway/internal/testenv"
)

var appBin string // the app built once for the process-level tests

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "apptest-")
	if err != nil {
		panic(err)
	}
	appBin = filepath.Join(dir, "app")
	if _, err := build.Run(context.Background(), build.Options{Dir: "../..", GOARCH: runtime.GOARCH, Output: appBin, Version: "test", Commit: "test"}); err != nil {
		fmt.Fprintf(os.Stderr, "build app: %v\n", err)
		os.Exit(1)
	}
	code := pgtest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// secret is put in every DATABASE_URL: it must never show up in output.
const secret = "s3cr3t-pw-never-logged"

func withPassword(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), secret)
	return u.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

type proc struct {
	cmd    *exec.Cmd
	addr   string
	stderr *syncbuf.Buffer
	done   chan error
}

// startApp starts the built app with env added to a minimal environment.
func startApp(t *testing.T, env ...string) *proc {
	t.Helper()
	p := &proc{addr: freeAddr(t), stderr: &syncbuf.Buffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(appBin)
	// METRICS_ADDR off unless a test sets it: the default port is one for
	// the whole machine, which parallel test processes would fight over.
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "ADDR=" + p.addr, "LOG_FORMAT=json", "METRICS_ADDR=off"}, env...)
	p.cmd.Stderr = p.stderr
	p.cmd.Stdout = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if strings.Contains(p.stderr.String(), secret) {
			t.Errorf("the database password appeared in the app's output:\n%s", p.stderr.String())
		}
	})
	return p
}

// waitReady polls /readyz until 200, or fails.
func (p *proc) waitReady(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("app exited before ready: %v\n%s", err, p.stderr.String())
		default:
		}
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("app at %s not ready within %s\n%s", p.addr, within, p.stderr.String())
}

func (p *proc) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(within):
		t.Fatalf("app still running after %s\n%s", within, p.stderr.String())
		return nil
	}
}

func get(t *testing.T, u string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("GET %s: not JSON: %q", u, b)
	}
	return resp.StatusCode, m
}

func TestEightInstancesOnAnEmptyDatabaseMigrateOnceAndAllBecomeReady(t *testing.T) {
	dbURL := withPassword(t, pgtest.EmptyURL(t))
	var procs []*proc
	for i := 0; i < 8; i++ {
		procs = append(procs, startApp(t, "DATABASE_URL="+dbURL))
	}
	for _, p := range procs {
		p.waitReady(t, 60*time.Second)
	}
	appliedLines := 0
	for _, p := range procs {
		appliedLines += strings.Count(p.stderr.String(), `"msg":"migrations applied"`)
	}
	if appliedLines != 1 {
		t.Errorf("%d instances logged \"migrations applied\", want exactly 1", appliedLines)
	}
	db := pgtest.SQLDB(t, dbURL)
	var rows, distinct int
	if err := db.QueryRow("SELECT count(*), count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0").Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../../migrations/*.sql")
	if rows != len(files) || distinct != len(files) {
		t.Errorf("version rows %d (distinct %d), want each of the %d migrations exactly once", rows, distinct, len(files))
	}
}

func TestEndpoints(t *testing.T) {
	p := startApp(t, "DATABASE_URL="+withPassword(t, pgtest.URL(t)))
	p.waitReady(t, 30*time.Second)
	if code, body := get(t, "http://"+p.addr+"/healthz"); code != 200 || body["status"] != "ok" {
		t.Errorf("/healthz: %d %v", code, body)
	}
	if code, body := get(t, "http://"+p.addr+"/readyz"); code != 200 || body["status"] != "ready" {
		t.Errorf("/readyz: %d %v", code, body)
	}
	code, body := get(t, "http://"+p.addr+"/version")
	if code != 200 || body["version"] == nil || body["commit"] == nil || !strings.HasPrefix(fmt.Sprint(body["go_version"]), "go1.") {
		t.Errorf("/version: %d %v", code, body)
	}
}

func TestNoMigrateServesButIsNotReadyWhilePending(t *testing.T) {
	p := startApp(t, "DATABASE_URL="+withPassword(t, pgtest.EmptyURL(t)), "NO_MIGRATE=true")
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + p.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("app never served: %s", p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, body := get(t, "http://"+p.addr+"/readyz")
	if code != 503 || body["reason"] != "migrations pending" {
		t.Errorf("/readyz with pending migrations: %d %v, want 503 migrations pending", code, body)
	}
}

func TestFailingMigrationExitsNamingTheFileAndChangesNothing(t *testing.T) {
	dbURL := withPassword(t, pgtest.EmptyURL(t))
	var out bytes.Buffer
	env := func(k string) string { return map[string]string{"DATABASE_URL": dbURL, "LOG_FORMAT": "json"}[k] }
	// Create goose's version table at version 0, then a users table the
	// first migration will collide with.
	if err := run(context.Background(), []string{"migrate", "version"}, env, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	db := pgtest.SQLDB(t, dbURL)
	if _, err := db.Exec("CREATE TABLE users (legacy text)"); err != nil {
		t.Fatal(err)
	}
	before := schema(t, dbURL)

	p := startApp(t, "DATABASE_URL="+dbURL)
	err := p.wait(t, 30*time.Second)
	if err == nil {
		t.Fatalf("app exited 0 after a failed migration:\n%s", p.stderr.String())
	}
	last := lastLine(p.stderr.String())
	if !strings.HasPrefix(last, "app: migration 00001_create_users.sql failed:") || !strings.Contains(last, `relation "users" already exists`) {
		t.Errorf("last line should name the file and PostgreSQL's error, got %q", last)
	}
	if strings.Contains(p.stderr.String(), "goroutine ") {
		t.Errorf("stack trace in output:\n%s", p.stderr.String())
	}
	if after := schema(t, dbURL); after != before {
		t.Errorf("schema changed:\nbefore %s\nafter  %s", before, after)
	}
}

func schema(t *testing.T, dbURL string) string {
	t.Helper()
	var s string
	err := pgtest.SQLDB(t, dbURL).QueryRow(`SELECT
		(SELECT string_agg(table_name || '.' || column_name, ',' ORDER BY table_name, column_name) FROM information_schema.columns WHERE table_schema = 'public')
		|| ' | ' ||
		(SELECT string_agg(version_id::text || ':' || is_applied::text, ',' ORDER BY id) FROM goose_db_version)`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestDatabaseDownAtStartRetriesThenFailsClearly(t *testing.T) {
	dead := freeAddr(t) // nothing listens there
	p := startApp(t, "DATABASE_URL=postgres://app:"+secret+"@"+dead+"/app", "DB_WAIT=2s")
	start := time.Now()
	err := p.wait(t, 30*time.Second)
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("app exited 0 without a database")
	}
	if elapsed < 2*time.Second {
		t.Errorf("gave up after %s, before DB_WAIT=2s", elapsed)
	}
	want := "app: database unreachable at " + dead + " after 2s: connect: connection refused"
	if got := lastLine(p.stderr.String()); got != want {
		t.Errorf("last line %q, want %q", got, want)
	}
	if n := strings.Count(p.stderr.String(), "retrying"); n != 1 {
		t.Errorf("want one 'retrying' line, got %d:\n%s", n, p.stderr.String())
	}
}

func TestSIGTERMStopsCleanly(t *testing.T) {
	p := startApp(t, "DATABASE_URL="+withPassword(t, pgtest.URL(t)))
	p.waitReady(t, 30*time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t, 10*time.Second); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop logged:\n%s", p.stderr.String())
	}
}

func TestMigrateSubcommands(t *testing.T) {
	dbURL := pgtest.EmptyURL(t)
	env := func(k string) string { return map[string]string{"DATABASE_URL": dbURL, "LOG_FORMAT": "text"}[k] }
	cli := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), append([]string{"migrate"}, args...), env, nil, &out, &errOut)
		return out.String(), err
	}
	mustOut := func(want string, args ...string) {
		t.Helper()
		out, err := cli(args...)
		if err != nil {
			t.Fatalf("migrate %v: %v", args, err)
		}
		if !strings.Contains(out, want) {
			t.Fatalf("migrate %v printed %q, want it to contain %q", args, out, want)
		}
	}
	files, _ := filepath.Glob("../../migrations/*.sql")
	last := filepath.Base(files[len(files)-1])
	mustOut("0\n", "version")
	mustOut("pending", "status")
	mustOut("applied 00001_create_users.sql", "up-to", "1")
	mustOut("1\n", "version")
	mustOut("applied "+last, "up")
	mustOut("nothing to do", "up")
	mustOut(fmt.Sprintf("%d\n", len(files)), "version")
	out, _ := cli("status")
	if !strings.Contains(out, "VERSION") || strings.Contains(out, "pending") || !strings.Contains(out, last) {
		t.Errorf("status table after up:\n%s", out)
	}
	mustOut("rolled back "+last, "down")
	mustOut(fmt.Sprintf("%d\n", len(files)-1), "version")
	mustOut("rolled back 00001_create_users.sql", "down-to", "0")
	mustOut("0\n", "version")

	for _, bad := range [][]string{{}, {"sideways"}, {"up-to"}, {"up-to", "x"}, {"down-to", "-1"}, {"up", "extra"}} {
		if _, err := cli(bad...); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("migrate %v: want a one-line error, got %v", bad, err)
		}
	}
}

func TestBadInvocations(t *testing.T) {
	none := func(string) string { return "" }
	var out bytes.Buffer
	for _, tc := range []struct {
		args []string
		env  func(string) string
		want string
	}{
		{[]string{"frobnicate"}, none, `unknown command "frobnicate"`},
		{nil, none, "DATABASE_URL is not set"},
		{[]string{"serve", "-bogus"}, none, "flag provided but not defined"},
		{nil, func(k string) string { return map[string]string{"DATABASE_URL": "x", "DB_WAIT": "soon"}[k] }, "DB_WAIT"},
		{[]string{"config", "check"}, func(k string) string { return map[string]string{"DATABASE_URL": "postgres://a@h:port/db"}[k] }, "DATABASE_URL does not parse"},
		{[]string{"config"}, none, "use `app config check`"},
	} {
		err := run(context.Background(), tc.args, tc.env, nil, &out, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("app %v: %v, want error containing %q", tc.args, err, tc.want)
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"version"}, none, nil, &out, &out); err != nil || !strings.Contains(out.String(), "commit ") {
		t.Errorf("app version: %v %q", err, out.String())
	}
	out.Reset()
	good := func(k string) string { return map[string]string{"DATABASE_URL": "postgres://a@h.invalid:5432/db"}[k] }
	if err := run(context.Background(), []string{"config", "check"}, good, nil, &out, &out); err != nil || out.String() != "config check: ok\n" {
		t.Errorf("app config check: %v %q", err, out.String())
	}
}

// On systemd's socket (shared with the live release during a deploy) the
// app takes no connection before its own readiness passes: here migrations
// are pending (NO_MIGRATE) until `app migrate up` applies them.
func TestOnASocketItTakesNoConnectionBeforeItIsReady(t *testing.T) {
	_, err := exec.LookPath("systemd-socket-activate")
	testenv.Need(t, err == nil, "systemd-socket-activate passes the app a socket as systemd does: apt-get install systemd")
	dbURL := withPassword(t, pgtest.EmptyURL(t))
	addr := freeAddr(t)
	out := &syncbuf.Buffer{}
	// -E NAME passes the variable from this environment: no secret in argv.
	cmd := exec.Command("systemd-socket-activate", "-l", addr, "-E", "DATABASE_URL", "-E", "NO_MIGRATE", "-E", "LOG_FORMAT", appBin, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + dbURL, "NO_MIGRATE=true", "LOG_FORMAT=json"}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// systemd-socket-activate listens first; the first connection starts
	// the app.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("systemd-socket-activate not listening on %s: %v", addr, err)
		}
	}
	quick := &http.Client{Timeout: 2 * time.Second}
	// The kernel queues the connection; nobody takes it.
	if resp, err := quick.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("answered %s with migrations pending:\n%s", resp.Status, out.String())
	}
	if !strings.Contains(out.String(), "not accepting yet") || !strings.Contains(out.String(), "migrations pending") {
		t.Errorf("the app does not say why it waits:\n%s", out.String())
	}
	mig := exec.Command(appBin, "migrate", "up")
	mig.Env = []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + dbURL}
	if b, err := mig.CombinedOutput(); err != nil {
		t.Fatalf("migrate up: %v\n%s", err, b)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := quick.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("first answer once ready: %s", resp.Status)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving after its migrations were applied:\n%s", out.String())
		}
	}
}

func TestInsecureCookiesOnlyOnLoopback(t *testing.T) {
	dbURL := withPassword(t, pgtest.URL(t))
	_, port, _ := strings.Cut(freeAddr(t), ":")
	p := startApp(t, "DATABASE_URL="+dbURL, "PASSWORD_PEPPER=pepper-for-tests-0123456789", "COOKIE_INSECURE=true", "ADDR=0.0.0.0:"+port)
	if err := p.wait(t, 30*time.Second); err == nil {
		t.Fatal("app served insecure cookies on 0.0.0.0")
	}
	if last := lastLine(p.stderr.String()); !strings.HasPrefix(last, "app: COOKIE_INSECURE=true while listening on ") || !strings.Contains(last, port) {
		t.Errorf("last line %q, want one line naming COOKIE_INSECURE and the address", last)
	}
	p = startApp(t, "DATABASE_URL="+dbURL, "PASSWORD_PEPPER=pepper-for-tests-0123456789", "COOKIE_INSECURE=true")
	p.waitReady(t, 30*time.Second)
	if !strings.Contains(p.stderr.String(), `"level":"WARN","msg":"COOKIE_INSECURE is set`) {
		t.Errorf("no loud warning on loopback:\n%s", p.stderr.String())
	}
}

func TestBadTrustedProxiesIsOneLineAtStartup(t *testing.T) {
	p := startApp(t, "DATABASE_URL=postgres://nobody@127.0.0.1:1/x", "TRUSTED_PROXIES=10.0.0.0/8,10.0.0/8")
	if err := p.wait(t, 10*time.Second); err == nil {
		t.Fatal("app started with a bad TRUSTED_PROXIES")
	}
	out := strings.TrimSpace(p.stderr.String())
	if strings.Count(out, "\n") > 0 || !strings.HasPrefix(out, `app: TRUSTED_PROXIES: "10.0.0/8" is not a CIDR`) {
		t.Errorf("output %q, want one line naming the bad entry", out)
	}
}

// TestThePruneSessionsJobDeletesExpiredSessionsAndOldFailures: what the
// login leaves behind is deleted by the prune-sessions job, run as its
// timer runs it (`app job prune-sessions`), no longer by the web process.
func TestThePruneSessionsJobDeletesExpiredSessionsAndOldFailures(t *testing.T) {
	dbURL := withPassword(t, pgtest.URL(t))
	db := pgtest.SQLDB(t, dbURL)
	if _, err := db.Exec(`INSERT INTO users (email, password_hash, is_admin) VALUES ('old@example.com', 'x', true);
		INSERT INTO sessions (token_hash, user_id, expires_at) SELECT 'gone', id, now() - interval '1 hour' FROM users;
		INSERT INTO sessions (token_hash, user_id, expires_at) SELECT 'live', id, now() + interval '1 hour' FROM users;
		INSERT INTO login_failures (email, ip, at) VALUES ('old@example.com', '192.0.2.1', now() - interval '3 days')`); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(appBin, "job", "prune-sessions")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + dbURL, "LOG_FORMAT=json"}
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), secret) {
		t.Fatalf("%v\n%s", err, out)
	}
	var sessions, failures int
	if err := db.QueryRow(`SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM login_failures)`).Scan(&sessions, &failures); err != nil {
		t.Fatal(err)
	}
	if sessions != 1 || failures != 0 || !strings.Contains(string(out), `"expired_sessions":1`) {
		t.Errorf("after the job: %d sessions, %d failures; want the live session only\n%s", sessions, failures, out)
	}
}
