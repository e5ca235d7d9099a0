package dev

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slipway-dev/slipway/internal/freeport"
	"github.com/slipway-dev/slipway/internal/pgcluster"
	"github.com/slipway-dev/slipway/internal/syncbuf"
	"github.com/slipway-dev/slipway/internal/testenv"
)

// tempRoot makes a folder the server's user can enter (t.TempDir is
// private to root).
func tempRoot(t *testing.T) string {
	t.Helper()
	_, err := pgcluster.BinDir()
	testenv.Need(t, err == nil, "PostgreSQL server binaries: "+pgcluster.InstallHint)
	d, err := os.MkdirTemp("", "devtest-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func noEnv(string) string { return "" }

func TestLocalDatabaseKeepsDataAcrossRestarts(t *testing.T) {
	root := tempRoot(t)
	ctx := context.Background()
	db, err := LocalDatabase(ctx, root, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	exec1(t, db.URL, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')")

	// A second user while the first runs (dev in one terminal, resetDB in
	// another) reuses the server and must not stop it on release.
	second, err := LocalDatabase(ctx, root, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if second.URL != db.URL {
		t.Errorf("second user got %s, want the running %s", second.URL, db.URL)
	}
	if err := second.Release(); err != nil {
		t.Fatal(err)
	}
	exec1(t, db.URL, "SELECT 1")

	if err := db.Release(); err != nil {
		t.Fatal(err)
	}
	if c, err := pgx.Connect(ctx, db.URL); err == nil {
		c.Close(ctx)
		t.Fatal("server still answers after the last release")
	}
	again, err := LocalDatabase(ctx, root, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Release()
	var v string
	conn, err := pgx.Connect(ctx, again.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != "still here" {
		t.Errorf("after restart: %q, %v", v, err)
	}
}

func TestLocalDatabaseUsesDATABASE_URL(t *testing.T) {
	db, err := LocalDatabase(context.Background(), "/nonexistent", func(k string) string {
		if k == "DATABASE_URL" {
			return "postgres://elsewhere/db"
		}
		return ""
	})
	if err != nil || db.URL != "postgres://elsewhere/db" || db.Local {
		t.Errorf("got %+v, %v", db, err)
	}
}

func exec1(t *testing.T, url, sql string) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
}

// TestRunServesReadyThenStopsEverything is `go run mage.go dev` minus mage:
// the app answers /readyz 200, and cancelling (Ctrl-C) stops the app and
// the cluster.
func TestRunServesReadyThenStopsEverything(t *testing.T) {
	root := tempRoot(t)
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// Run builds ./cmd/app from the repository; the cluster lives in root.
	for _, name := range []string{"go.mod", "go.sum", "app", "cmd", "internal", "migrations"} {
		if err := os.Symlink(filepath.Join(repo, name), filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Root: root, Getenv: func(k string) string {
			if k == "ADDR" {
				return addr
			}
			return ""
		}, Stdout: out, Stderr: out})
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("dev stopped early: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// dev serves plain http on loopback, so it turns the __Host- Secure
	// cookies off, explicitly: the login form's cookie is a plain one.
	resp, err := http.Get("http://" + addr + "/admin/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cks := resp.Cookies(); len(cks) != 1 || cks[0].Secure || strings.HasPrefix(cks[0].Name, "__Host-") {
		t.Errorf("dev's login form set %+v, want one cookie without Secure or __Host- (COOKIE_INSECURE)", cks)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dev: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not stop")
	}
	if !strings.Contains(out.String(), "dev: stopped") {
		t.Errorf("output:\n%s", out.String())
	}
	// A cleanly stopped server removes its pid file.
	if _, err := os.Stat(filepath.Join(root, ".dev", "pg", "data", "postmaster.pid")); err == nil {
		t.Error("the local cluster still runs after dev stopped")
	}
}

func TestDevPepperIsGeneratedOnceAndPrivate(t *testing.T) {
	root := t.TempDir()
	a, err := devPepper(root, noEnv)
	if err != nil || len(a) < 16 {
		t.Fatalf("pepper %q, %v", a, err)
	}
	b, _ := devPepper(root, noEnv)
	if a != b {
		t.Error("a second dev run got another pepper: existing passwords would stop working")
	}
	st, err := os.Stat(filepath.Join(root, ".dev", "pepper"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("pepper file: %v %v, want mode 0600", st.Mode(), err)
	}
	if p, _ := devPepper(root, func(k string) string { return map[string]string{"PASSWORD_PEPPER": "from-the-environment"}[k] }); p != "from-the-environment" {
		t.Errorf("PASSWORD_PEPPER ignored: %q", p)
	}
}
