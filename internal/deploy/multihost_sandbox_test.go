package deploy

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest/apptest"
	"github.com/slipway-dev/slipway/internal/service"
)

// Hosts of one app share its database: a second host whose DATABASE_URL
// reaches another one (here its own PostgreSQL) is refused before any host
// changes, in one line naming both hosts and what each reaches; pointed
// at the first's database over TLS (verify-full), the same database
// reached by a socket and by TCP, it passes.
func TestSeveralHostsMustReachOneDatabase(t *testing.T) {
	svc := service.DefaultConfig()
	svc.AppName, svc.DeployPath = "onedb", "/srv/onedb"
	a := provisionedOn(t, sandboxtest.Get(t), svc)
	b := provisionedOn(t, sandboxtest.Second(t), svc)
	ctx := context.Background()
	var out bytes.Buffer
	o := testOptions([]string{"enva", "envb"}, twoHosts(t, a.sb, b.sb), svc.DeployPath, &out)
	o.Service = a.svc
	o.Binary = appBinary(t, "od1", "0bd0b001")

	_, err := Deploy(ctx, o, false)
	if err == nil {
		t.Fatalf("deploy to hosts on two databases went ahead:\n%s", out.String())
	}
	first, rest, _ := strings.Cut(err.Error(), "\n")
	t.Logf("refused: %v", err)
	if !strings.HasPrefix(first, "the hosts use different databases: enva reaches database app of cluster ") || strings.Count(first, " started ") != 2 ||
		!strings.Contains(first, ", but envb reaches database app of cluster ") || !strings.Contains(first, "fix DATABASE_URL there") ||
		rest != "nothing changed on any host (enva, envb)" {
		t.Errorf("refusal %q", err)
	}
	for _, e := range []sandboxEnv{a, b} {
		if got := e.sh(t, "ls "+svc.ReleasesDir()+" 2>/dev/null | wc -l"); got != "0" {
			t.Errorf("%s holds %s release(s) after the refusal", e.sb.Alias, got)
		}
	}
	if err := Rollback(ctx, o, ""); err == nil || !strings.HasPrefix(err.Error(), "the hosts use different databases: ") {
		t.Errorf("rollback: %v", err)
	}
	if _, err := Restore(ctx, o, RestoreOptions{Backup: "x"}); err == nil || !strings.HasPrefix(err.Error(), "the hosts use different databases: ") {
		t.Errorf("restore: %v", err)
	}

	if err := apptest.WriteEnv(ctx, b.sb, svc.EnvFile(), svc.DatabaseURLVar()+"="+sharedDatabase(t)+"\n"); err != nil {
		t.Fatal(err)
	}
	if err := sameDatabase(ctx, o, nil); err != nil {
		t.Errorf("envb on enva's database over TLS: %v", err)
	}
}
