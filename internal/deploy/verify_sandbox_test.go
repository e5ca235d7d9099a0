package deploy

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/service"
)

// TestAChangedReleaseBinaryIsNeitherReusedNorRolledBackTo changes a
// release's app on the server but not its app.sha256: deploy must upload
// the binary afresh instead of reusing it, and rollback must refuse it.
func TestAChangedReleaseBinaryIsNeitherReusedNorRolledBackTo(t *testing.T) {
	svc := service.DefaultConfig()
	svc.AppName, svc.ServiceUser, svc.DeployPath = "verify", "verify", "/home/admin/verify"
	e := provisionedAs(t, svc)
	v1, v2 := appBinary(t, "v1", "c0ffee01"), appBinary(t, "v2", "c0ffee02")
	var out bytes.Buffer
	r1 := deployOK(t, e.options(&out, v1))
	r2 := deployOK(t, e.options(&out, v2))
	rel := func(id string) string { return e.svc.ReleasesDir() + "/" + id }

	// Someone on the server swaps release 1's binary, leaving its record.
	e.sh(t, "cp "+rel(r2.Release)+"/app "+rel(r1.Release)+"/app")
	out.Reset()
	again := deployOK(t, e.options(&out, v1))
	if !again.Uploaded || again.Release == r1.Release {
		t.Errorf("deploy reused the changed release %s (uploaded=%v):\n%s", again.Release, again.Uploaded, out.String())
	}
	if got := e.servingCommit(t); got != "c0ffee01" {
		t.Errorf("serving commit %s after deploying v1, want c0ffee01", got)
	}
	if !strings.Contains(out.String(), r1.Release) || !strings.Contains(out.String(), "changed") {
		t.Errorf("deploy did not say why it uploaded again:\n%s", out.String())
	}

	// Now the previous release (v2) is changed: rollback must not start it.
	e.sh(t, "printf tampered >> "+rel(r2.Release)+"/app")
	before := e.current(t)
	out.Reset()
	err := Rollback(context.Background(), e.options(&out, ""), "")
	if err == nil || !strings.Contains(err.Error(), r2.Release) || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("rollback to a changed binary: %v, want a refusal naming %s and its sha256\n%s", err, r2.Release, out.String())
	}
	if cur := e.current(t); cur != before {
		t.Errorf("current moved to %s", cur)
	}
	if got := e.servingCommit(t); got != "c0ffee01" {
		t.Errorf("serving commit %s after the refused rollback, want c0ffee01", got)
	}

	// A release that never gets ready must not bring a changed binary back
	// either: the handover never stops the live instance, so nothing
	// restarts it from the changed file (it was changed after it started;
	// it is running, so it is replaced rather than written to).
	a := rel(again.Release) + "/app"
	e.sh(t, "cp "+a+" "+a+".t && printf tampered >> "+a+".t && mv "+a+".t "+a)
	pid := func() string { return e.sh(t, "systemctl show -p MainPID --value "+e.svc.InstanceUnit(again.Release)) }
	pidBefore := pid()
	bad := buildBinary(t, "./internal/deploy/testdata/notready", "notready", "badbad01")
	out.Reset()
	o := e.options(&out, bad)
	o.ReadyTimeout = 15 * time.Second
	_, err = Deploy(context.Background(), o, false)
	if err == nil || !strings.Contains(err.Error(), "kept serving, it was never stopped") {
		t.Errorf("deploy of a never-ready release: %v, want the live one kept serving\n%s", err, out.String())
	}
	if after := pid(); pidBefore == "0" || after != pidBefore {
		t.Errorf("the live instance's process went from %s to %s: restarted from a changed binary", pidBefore, after)
	}
	if cur := e.current(t); cur != "releases/"+again.Release {
		t.Errorf("current is %s, want releases/%s (never switched)", cur, again.Release)
	}
}
