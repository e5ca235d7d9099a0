package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/admin/admintest"
	"github.com/slipway-dev/slipway/internal/pgtest"
	"github.com/slipway-dev/slipway/internal/procmem"
)

// The flood of issue 25, item 3: the rate and length an attacker needs.
const (
	floodRate     = 2000 // garbage posts per second
	floodFor      = 30 * time.Second
	floodInFlight = 1000 // the attacker's open requests at most
	// floodMaxGrowth bounds the app's resident memory growth under it.
	floodMaxGrowth = 300 << 20
)

// TestGarbageLoginFloodLeavesReadyzAndTheKnownAdminAlone performs item 3
// of issue 25 against the app as cmd/app wires it, over a real PostgreSQL:
// 2,000 garbage login posts a second for 30 s. Throughout, /readyz answers
// 200 every time, the admin logs in from a browser it used before, and the
// app's resident memory grows by at most 300 MB. How fast anything
// answers is bench:login's business, not this test's.
func TestGarbageLoginFloodLeavesReadyzAndTheKnownAdminAlone(t *testing.T) {
	const pepper, email = "pepper-for-tests-0123456789", "ada@example.com"
	dbURL := withPassword(t, pgtest.URL(t))
	if r := adminCreate(t, dbURL, pepper, adminPW+"\n", "-email", email); r.err != nil {
		t.Fatalf("admin create: %v", r.err)
	}
	p := startApp(t, "DATABASE_URL="+dbURL, "PASSWORD_PEPPER="+pepper, "TRUSTED_PROXIES=127.0.0.1/32")
	p.waitReady(t, 30*time.Second)
	base := "http://" + p.addr
	laptop := admintest.Browser("198.51.100.200")
	if ok, page := admintest.LoginWith(t, laptop, base, email, adminPW); !ok {
		t.Fatalf("the admin's first login failed:\n%.500s", page)
	}
	pid := strconv.Itoa(p.cmd.Process.Pid)
	baseRSS, err := procmem.Status(pid, "VmRSS")
	if err != nil {
		t.Fatal(err)
	}

	ctx, stop := context.WithTimeout(context.Background(), floodFor)
	defer stop()
	var wg sync.WaitGroup
	var flood admintest.FloodStats
	wg.Add(1)
	go func() { // the attacker
		defer wg.Done()
		flood = admintest.Flood(ctx, base, floodRate, floodInFlight)
	}()

	var probes, notReady atomic.Int64
	var firstNotReady atomic.Value
	wg.Add(1)
	go func() { // a deploy's or load balancer's readiness probe
		defer wg.Done()
		probe := &http.Client{Timeout: 20 * time.Second}
		for ctx.Err() == nil {
			probes.Add(1)
			resp, err := probe.Get(base + "/readyz")
			what := ""
			if err != nil {
				what = err.Error()
			} else {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					what = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
				}
			}
			if what != "" {
				notReady.Add(1)
				firstNotReady.CompareAndSwap(nil, what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	var peakRSS atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if v, err := procmem.Status(pid, "VmRSS"); err == nil && v > peakRSS.Load() {
				peakRSS.Store(v)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	// The admin logs in from the laptop twice during the flood.
	started := time.Now()
	for i, at := range []time.Duration{floodFor / 3, 2 * floodFor / 3} {
		time.Sleep(time.Until(started.Add(at)))
		if ok, page, err := admintest.TryLogin(laptop, base, email, adminPW); !ok {
			t.Errorf("the admin's login from a known browser during the flood (%d of 2) failed: %v %q", i+1, err, alertOf(page))
		}
	}
	<-ctx.Done()
	wg.Wait()
	if v, err := procmem.Status(pid, "VmRSS"); err == nil && v > peakRSS.Load() {
		peakRSS.Store(v)
	}
	t.Logf("flood: %d garbage posts sent in %s (%d skipped: all %d of the attacker's requests open), answers %v, %d without an answer; /readyz probed %d times",
		flood.Sent, floodFor, flood.Skipped, floodInFlight, flood.Codes, flood.NoAnswer, probes.Load())
	if n := notReady.Load(); n > 0 {
		t.Errorf("/readyz during the flood: %d of %d probes not 200 (first: %v)", n, probes.Load(), firstNotReady.Load())
	}
	growth := peakRSS.Load() - baseRSS
	t.Logf("app RSS: %d MiB before, peak %d MiB during the flood (+%d MiB)", baseRSS>>20, peakRSS.Load()>>20, growth>>20)
	if growth > floodMaxGrowth {
		t.Errorf("the app's resident memory grew by %d MiB under the flood, want at most %d MiB", growth>>20, floodMaxGrowth>>20)
	}
	refused := 0
	for code, n := range flood.Codes {
		if code >= 400 {
			refused += n
		}
	}
	if refused == 0 {
		t.Error("no garbage post was answered with a refusal: the flood didn't reach the app")
	}
}

// alertOf is a login page's error paragraph, or its start.
func alertOf(page string) string {
	if _, after, ok := strings.Cut(page, `role="alert">`); ok {
		msg, _, _ := strings.Cut(after, "</p>")
		return msg
	}
	return fmt.Sprintf("%.200s", page)
}
