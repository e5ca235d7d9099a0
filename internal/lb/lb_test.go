package lb

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/freeport"
	"github.com/slipway-dev/slipway/internal/testenv"
)

// host is an app stand-in: /readyz answers 200 while ready, every other
// path its name.
func host(t *testing.T, name string, ready *atomic.Bool) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" && !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	return s
}

// A host whose /readyz fails is out of the rotation after a health check
// or two, a host that is down altogether too: no request reaches either;
// back to ready, it is in again.
func TestTheBalancerSendsNothingToAHostNotReadyOrDown(t *testing.T) {
	_, err := exec.LookPath("caddy")
	testenv.Need(t, err == nil, "caddy (apt-get install caddy)")
	var aReady, bReady atomic.Bool
	aReady.Store(true)
	bReady.Store(true)
	a, b := host(t, "a", &aReady), host(t, "b", &bReady)
	port, err := freeport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bal, err := Start(ctx, t.TempDir(), "127.0.0.1:"+strconv.Itoa(port), []string{strings.TrimPrefix(a.URL, "http://"), strings.TrimPrefix(b.URL, "http://")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bal.Stop)
	if err := bal.WaitHealthy(ctx, "/", 4, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	answers := func(n int) map[string]int {
		got := map[string]int{}
		for range n {
			resp, err := http.Get(bal.URL + "/")
			if err != nil {
				got[err.Error()]++
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got[strconv.Itoa(resp.StatusCode)+" "+string(body)]++
		}
		return got
	}
	if got := answers(20); got["200 a"] == 0 || got["200 b"] == 0 || len(got) != 2 {
		t.Errorf("both ready: %v, want a and b", got)
	}
	bReady.Store(false)
	time.Sleep(3 * HealthInterval)
	if got := answers(20); got["200 a"] != 20 {
		t.Errorf("b not ready: %v, want a only", got)
	}
	bReady.Store(true)
	time.Sleep(3 * HealthInterval)
	if got := answers(20); got["200 b"] == 0 {
		t.Errorf("b ready again: %v, want b back", got)
	}
	b.Close()
	time.Sleep(3 * HealthInterval)
	if got := answers(20); got["200 a"] != 20 {
		t.Errorf("b down: %v, want a only", got)
	}
}
