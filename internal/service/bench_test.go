package service

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestBenchShowsTheBaselineLosingRequests runs a short benchmark: the
// measurement must see the baseline's refused connections, and none with
// socket activation.
func TestBenchShowsTheBaselineLosingRequests(t *testing.T) {
	sb, r, c, url := onSandbox(t, "bench", "/srv/bench")
	ctx := context.Background()
	provision(t, r, c)
	dbURL, err := sb.DatabaseURL()
	if err != nil {
		t.Fatal(err)
	}
	if err := writeEnv(ctx, r, c, "DATABASE_URL="+dbURL+"\n"); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := Bench(ctx, BenchOptions{Runner: r, Config: c, Binary: buildApp(t, "bench"), URL: url,
		Deploys: 3, Rate: 200, Gap: 500 * time.Millisecond, Out: &out})
	t.Logf("\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if res.Slipway.Failed != 0 || res.Slipway.Sent < 400 {
		t.Errorf("socket activation: %s, want 0 failed of at least 400", res.Slipway)
	}
	if res.Baseline.Failed == 0 {
		t.Errorf("baseline: %s, want failures (stop-copy-start refuses connections)", res.Baseline)
	}
	if !strings.Contains(out.String(), "stop-copy-start, no socket (baseline)") {
		t.Error("table lacks the baseline row")
	}
	// Bench leaves the real units serving.
	if got := runRoot(t, r, "systemctl is-active bench.socket bench.service; systemctl is-enabled bench.service"); got != "active\nactive\nenabled" {
		t.Errorf("after the bench: %q", got)
	}
}
