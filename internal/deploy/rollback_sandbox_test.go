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

// A rollback of several hosts checks every one (its target, the target's
// binary, the migrations it would apply) before the first switches: a host
// that refuses leaves the others where they were, never hosts on different
// releases. (The sandboxes share this machine's network, so only one of
// them can serve the app's port: the second holds no release, so not the
// build the first rolls back to, which it refuses as it would refuse a
// release with migrations pending.) The second reaches the first's
// database over TLS, as several hosts must.
func TestRollbackOfTwoHostsChecksEveryHostBeforeTheFirstSwitches(t *testing.T) {
	// The service user app: the sandbox's databases trust it by peer.
	svc := service.DefaultConfig()
	svc.AppName, svc.DeployPath = "rbtwo", "/srv/rbtwo"
	shared := sharedDatabase(t)
	a := provisionedOn(t, sandboxtest.Get(t), svc)
	b := sandboxEnv{sb: sandboxtest.Second(t), svc: apptest.Installed(t, sandboxtest.Second(t), svc, apptest.Options{DatabaseURL: shared}).Service}
	t.Cleanup(func() {
		a.sh(t, "for u in $(systemctl list-units --plain --no-legend --all 'rbtwo@*' | awk '{print $1}'); do systemctl stop $u; done; rm -rf "+svc.DeployPath)
	})
	ctx := context.Background()
	var out bytes.Buffer
	o := testOptions([]string{"enva", "envb"}, twoHosts(t, a.sb, b.sb), svc.DeployPath, &out)
	o.Service = a.svc
	o.ReadyTimeout = a.options(&out, "").ReadyTimeout
	onA := o
	onA.Hosts = []string{"enva"}
	for _, bin := range []string{appBinary(t, "bk1", "bb0de001"), appBinary(t, "bk2", "bb0de002")} {
		onA.Binary = bin
		if _, err := Deploy(ctx, onA, false); err != nil {
			t.Fatalf("deploy: %v\n%s", err, out.String())
		}
	}
	was := a.current(t)

	out.Reset()
	err := Rollback(ctx, o, "")
	if err == nil || !strings.Contains(err.Error(), "envb does not hold the build the first host rolls back to") || !strings.Contains(err.Error(), "no host rolled back") {
		t.Fatalf("rollback of both: %v\n%s", err, out.String())
	}
	t.Logf("rollback of both hosts: %v", err)
	if got := a.current(t); got != was {
		t.Errorf("enva switched to %s (was %s) before envb refused", got, was)
	}
	a.consistent(t, strings.TrimPrefix(was, "releases/"))

	// status of a host provisioned but never deployed: nothing accepts on
	// its socket, which queues the probe; status says so and ends.
	out.Reset()
	onB := o
	onB.Hosts = []string{"envb"}
	onB.Service = b.svc // its own port: the sandboxes share this machine's network
	if err := Status(ctx, onB, 5); err != nil {
		t.Fatalf("status of envb: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "not answering") || !strings.Contains(out.String(), "no answer within") {
		t.Errorf("status of a host never deployed:\n%s", out.String())
	}
}
