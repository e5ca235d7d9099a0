package devdb

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/slipway-dev/slipway/internal/pgtest"
	"github.com/slipway-dev/slipway/internal/testenv"
)

// dumpOf is pg_dump --format=custom of the database at url.
func dumpOf(t *testing.T, url string) string {
	t.Helper()
	_, err := exec.LookPath("pg_dump")
	testenv.Need(t, err == nil, "pg_dump and pg_restore (apt-get install postgresql-client)")
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	dump := filepath.Join(t.TempDir(), "x.dump")
	cmd := exec.Command("pg_dump", "--format=custom", "-f", dump)
	cmd.Env = append(os.Environ(), pgEnv(cfg)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	return dump
}

func TestLoadReplacesTheLocalDatabaseWithADump(t *testing.T) {
	ctx := context.Background()
	src := pgtest.URL(t)
	exec1(t, src, "INSERT INTO users (email, password_hash) SELECT 'p'||g||'@example.com', 'x' FROM generate_series(1, 7) g")
	dump := dumpOf(t, src)
	dst := pgtest.URL(t)
	exec1(t, dst, "INSERT INTO users (email, password_hash) VALUES ('local@example.com', 'x')")
	v, err := Load(ctx, dst, dst, dump)
	if err != nil {
		t.Fatal(err)
	}
	if v < 1 {
		t.Errorf("version %d", v)
	}
	if n := rows(t, dst, "SELECT count(*) FROM users WHERE email LIKE 'p%'"); n != 7 {
		t.Errorf("%d pulled users, want 7", n)
	}
	if n := rows(t, dst, "SELECT count(*) FROM users WHERE email = 'local@example.com'"); n != 0 {
		t.Errorf("the local rows survived the pull")
	}
}

func TestLoadRefusesADamagedDumpAndKeepsTheDatabase(t *testing.T) {
	src := pgtest.URL(t)
	dump := dumpOf(t, src)
	b, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dump, b[:len(b)/3], 0o600); err != nil {
		t.Fatal(err)
	}
	dst := pgtest.URL(t)
	exec1(t, dst, "INSERT INTO users (email, password_hash) VALUES ('kept@example.com', 'x')")
	if _, err := Load(context.Background(), dst, dst, dump); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("err = %v, want damaged", err)
	}
	if n := rows(t, dst, "SELECT count(*) FROM users"); n != 1 {
		t.Errorf("%d users: the damaged dump changed the database", n)
	}
}

func exec1(t *testing.T, url, sql string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}

func rows(t *testing.T, url, sql string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
