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

	// The automatic rollback of a release that never gets ready must not
	// start a changed binary either.
	// It is running, so it is replaced rather than written to.
	a := rel(again.Release) + "/app"
	e.sh(t, "cp "+a+" "+a+".t && printf tampered >> "+a+".t && mv "+a+".t "+a)
	bad := buildBinary(t, "./internal/deploy/testdata/notready", "notready", "badbad01")
	out.Reset()
	o := e.options(&out, bad)
	o.ReadyTimeout = 15 * time.Second
	_, err = Deploy(context.Background(), o, false)
	if err == nil || !strings.Contains(err.Error(), "not rolled back to "+again.Release) || !strings.Contains(err.Error(), "changed since it was installed") {
		t.Errorf("deploy of a never-ready release over a changed one: %v, want no rollback to %s\n%s", err, again.Release, out.String())
	}
	if cur := e.current(t); cur == "releases/"+again.Release {
		t.Errorf("current went back to the changed release %s", again.Release)
	}
}
