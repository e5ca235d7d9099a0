package pgcluster

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/slipway-dev/slipway/internal/testenv"
)

func TestMissingBinariesSayWhatToInstall(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := binDir(t.TempDir() + "/*/bin")
	if err == nil || !strings.Contains(err.Error(), "apt-get install postgresql") || strings.Contains(err.Error(), "\n") {
		t.Errorf("got %v, want one line naming the package to install", err)
	}
}

func TestTemporaryClusterStartsServesAndVanishes(t *testing.T) {
	_, err := BinDir()
	testenv.Need(t, err == nil, InstallHint)
	ctx := context.Background()
	c, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Reused() {
		t.Error("a new temporary cluster reports Reused")
	}
	if err := c.CreateDatabase(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateDatabase(ctx, "x"); err != nil {
		t.Errorf("CreateDatabase of an existing database: %v", err)
	}
	conn, err := pgx.Connect(ctx, c.URL("x"))
	if err != nil {
		t.Fatal(err)
	}
	var fsync string
	if err := conn.QueryRow(ctx, "SHOW fsync").Scan(&fsync); err != nil || fsync != "off" {
		t.Errorf("fsync = %q, %v; want off", fsync, err)
	}
	var listen string
	_ = conn.QueryRow(ctx, "SHOW listen_addresses").Scan(&listen)
	if listen != "" {
		t.Errorf("listen_addresses = %q, want none (unix socket only)", listen)
	}
	conn.Close(ctx)
	dir := c.Dir()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cluster folder %s still exists after Stop", dir)
	}
	if conn, err := pgx.Connect(ctx, c.URL("x")); err == nil {
		conn.Close(ctx)
		t.Error("server still answers after Stop")
	}
}

func TestRootNeedsAFolderThePostgresUserCanEnter(t *testing.T) {
	testenv.NeedRoot(t, "the check only applies to root")
	_, err := BinDir()
	testenv.Need(t, err == nil, InstallHint)
	private := t.TempDir() // 0700, owned by root
	_, err = Start(context.Background(), Options{Dir: private + "/pg"})
	if err == nil || !strings.Contains(err.Error(), "chmod o+x") {
		t.Errorf("Start under a private folder: %v, want the chmod hint", err)
	}
}
