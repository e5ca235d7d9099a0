package main

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/slipway-dev/slipway/internal/pgtest"
)

// metricsToken is the tests' METRICS_TOKEN.
const metricsToken = "metrics-test-token-0123456789abcdef"

// scrape fetches /metrics at addr with metricsToken, as Prometheus would;
// ok is false while nothing answers there.
func scrape(t *testing.T, addr string) (raw []byte, fams map[string]*dto.MetricFamily, ok bool) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+metricsToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, false
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %v\n%s", resp.StatusCode, err, raw)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err = p.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v\n%s", err, raw)
	}
	return raw, fams, true
}

// series finds the series of family name whose labels include want.
func series(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

func requests(fams map[string]*dto.MetricFamily, route, code string) float64 {
	m := series(fams, "slipway_http_requests_total", map[string]string{"route": route, "code": code})
	if m == nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

func hit(t *testing.T, u string, n int) {
	t.Helper()
	for range n {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
}

func TestMetricsCountRequestsByRouteAndPassPromtoolCheckMetrics(t *testing.T) {
	maddr := freeAddr(t)
	p := startApp(t, "DATABASE_URL="+withPassword(t, pgtest.EmptyURL(t)), "METRICS_ADDR="+maddr, "METRICS_TOKEN="+metricsToken)
	p.waitReady(t, 30*time.Second)
	hit(t, "http://"+p.addr+"/healthz", 3)
	hit(t, "http://"+p.addr+"/no/such/page/1", 1)
	hit(t, "http://"+p.addr+"/no/such/page/2", 1)

	var raw []byte
	var fams map[string]*dto.MetricFamily
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var ok bool
		if raw, fams, ok = scrape(t, maddr); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing serves /metrics on %s\n%s", maddr, p.stderr.String())
		}
	}
	if got := requests(fams, "GET /healthz", "200"); got != 3 {
		t.Errorf(`requests{route="GET /healthz",code="200"} = %v, want 3`, got)
	}
	// Every local user reaches loopback: without the token (none, a wrong
	// one, the right one without its scheme), nothing.
	for _, auth := range []string{"", "Bearer wrong-token-0123456789abcdef", metricsToken} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+maddr+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || bytes.Contains(body, []byte("slipway_")) {
			t.Errorf("/metrics with Authorization %q: %s\n%.200s", auth, resp.Status, body)
		}
	}
	if got := requests(fams, "unmatched", "404"); got != 2 {
		t.Errorf(`requests{route="unmatched",code="404"} = %v, want 2 (raw paths must not become labels)`, got)
	}
	for _, m := range fams["slipway_http_requests_total"].GetMetric() {
		for _, l := range m.Label {
			if l.GetName() == "route" && bytes.Contains([]byte(l.GetValue()), []byte("/no/such")) {
				t.Errorf("a raw path became a route label: %q", l.GetValue())
			}
		}
	}
	if h := series(fams, "slipway_http_request_duration_seconds", map[string]string{"route": "GET /healthz", "code": "200"}); h.GetHistogram().GetSampleCount() != 3 {
		t.Errorf("latency histogram of GET /healthz has %d samples, want 3", h.GetHistogram().GetSampleCount())
	}
	if b := series(fams, "slipway_build_info", map[string]string{"version": "test", "commit": "test"}); b.GetGauge().GetValue() != 1 {
		t.Errorf("slipway_build_info{version=\"test\",commit=\"test\"} missing or not 1")
	}
	files, _ := filepath.Glob("../../migrations/*.sql")
	if got := fams["slipway_startup_migrations_applied"].GetMetric(); len(got) != 1 || got[0].GetGauge().GetValue() != float64(len(files)) {
		t.Errorf("slipway_startup_migrations_applied = %v, want %d (an empty database)", got, len(files))
	}
	if got := fams["slipway_startup_migration_duration_seconds"].GetMetric(); len(got) != 1 || got[0].GetGauge().GetValue() <= 0 {
		t.Errorf("slipway_startup_migration_duration_seconds = %v, want > 0", got)
	}
	if got := fams["slipway_db_pool_max_connections"].GetMetric(); len(got) != 1 || got[0].GetGauge().GetValue() < 1 {
		t.Errorf("slipway_db_pool_max_connections = %v, want the pool's size", got)
	}
	if got := fams["slipway_db_pool_acquires_total"].GetMetric(); len(got) != 1 || got[0].GetCounter().GetValue() < 1 {
		t.Errorf("slipway_db_pool_acquires_total = %v, want >= 1 (readiness pinged the pool)", got)
	}
	for _, name := range []string{"slipway_http_requests_in_flight", "go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_open_fds"} {
		if fams[name] == nil {
			t.Errorf("series %s missing", name)
		}
	}
	// What `promtool check metrics` runs.
	problems, err := promlint.New(bytes.NewReader(raw)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("promlint: %s: %s", pr.Metric, pr.Text)
	}
	promtoolCheckMetrics(t, raw)
}

// promtool is the Prometheus release whose `promtool check metrics` the
// metrics must pass. Built by go run: ~5 min on a new machine (a large
// module), seconds from the build cache after; -short skips it.
const promtool = "github.com/prometheus/prometheus/cmd/promtool@v0.316.0"

// promtoolCheckMetrics fails the test with promtool's findings on raw.
func promtoolCheckMetrics(t *testing.T, raw []byte) {
	t.Helper()
	if testing.Short() {
		t.Log("promtool check metrics skipped with -short (promlint ran)")
		return
	}
	cmd := exec.CommandContext(t.Context(), "go", "run", promtool, "check", "metrics")
	cmd.Dir = t.TempDir() // outside this module: go run pkg@version
	cmd.Stdin = bytes.NewReader(raw)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics (%s): %v\n%s", promtool, err, out)
	}
}

func TestDuringAHandoverTheMetricsAddressStaysWithTheLiveInstanceThenMoves(t *testing.T) {
	dbURL := withPassword(t, pgtest.URL(t))
	maddr := freeAddr(t)
	old := startApp(t, "DATABASE_URL="+dbURL, "METRICS_ADDR="+maddr, "METRICS_TOKEN="+metricsToken)
	old.waitReady(t, 30*time.Second)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, _, ok := scrape(t, maddr); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first instance serves no /metrics on %s\n%s", maddr, old.stderr.String())
		}
	}
	// The second instance finds the address taken: it must still come up.
	next := startApp(t, "DATABASE_URL="+dbURL, "METRICS_ADDR="+maddr, "METRICS_TOKEN="+metricsToken)
	next.waitReady(t, 30*time.Second)
	hit(t, "http://"+next.addr+"/healthz", 4)
	if _, fams, _ := scrape(t, maddr); requests(fams, "GET /healthz", "200") != 0 {
		t.Fatalf("while both run, /metrics is not the first instance's: %v healthz requests", requests(fams, "GET /healthz", "200"))
	}
	if err := old.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := old.wait(t, 30*time.Second); err != nil {
		t.Fatalf("first instance: %v\n%s", err, old.stderr.String())
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, fams, ok := scrape(t, maddr); ok && requests(fams, "GET /healthz", "200") == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second instance never took over %s\n%s", maddr, next.stderr.String())
		}
	}
}
