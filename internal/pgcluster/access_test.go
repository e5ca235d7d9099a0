package pgcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/slipway-dev/slipway/internal/testenv"
)

// psqlAs runs psql as OS user u against conninfo and returns its output and
// error: the same client any local user has.
func psqlAs(t *testing.T, c *Cluster, u *user.User, conninfo string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(c.bin, "psql"), "-X", "-At", "-c", "SELECT current_user", conninfo)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin", "PGCONNECT_TIMEOUT=3"}
	if u != nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestAnotherLocalUserCannotConnect(t *testing.T) {
	testenv.NeedRoot(t, "switching to another OS user needs root")
	_, err := BinDir()
	testenv.Need(t, err == nil, InstallHint)
	nobody, err := user.Lookup("nobody")
	testenv.Need(t, err == nil, "an unprivileged 'nobody' account")
	c, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	_, err = os.Stat(filepath.Join(c.bin, "psql"))
	testenv.Need(t, err == nil, "psql beside initdb: apt-get install postgresql-client")

	// The test process (root) gets in through the URL everyone is given.
	if out, err := psqlAs(t, c, nil, c.URL("postgres")); err != nil || out != Superuser {
		t.Fatalf("root through %s: %q, %v", c.URL("postgres"), out, err)
	}
	for _, conninfo := range []string{
		c.URL("postgres"),
		fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=postgres sslmode=disable", c.Port(), Superuser),
		fmt.Sprintf("host=localhost port=%d user=%s dbname=postgres sslmode=disable", c.Port(), Superuser),
	} {
		if out, err := psqlAs(t, c, nobody, conninfo); err == nil {
			t.Errorf("user nobody connected through %s as %q: any local user is superuser", conninfo, out)
		}
	}
}
