// Package load is the benchmarks' and tests' load generator: GET requests
// to one URL at a fixed rate, summed up as sent, failed and latency
// percentiles. It imports nothing of Slipway's, so a product package's tests
// can use it as well as internal/bench.
package load

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Load sends GET requests to one URL at a fixed rate (open loop) until
// stopped: a pause of the server shows up as latency and failures instead of
// fewer requests sent, so two runs of the same duration compare.
type Load struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	latencies []time.Duration // of the successful requests
	failed    int
	errs      map[string]int
	answers   map[string]int
}

// Result sums up a Load.
type Result struct {
	Sent, Failed  int
	P50, P99, Max time.Duration // over successful requests
	// Errors counts failures by message (status code or client error).
	Errors map[string]int
	// Answers counts the responses by body, whatever their status (trimmed,
	// at most maxAnswers distinct ones, the rest under "other"): which
	// release answered how often.
	Answers map[string]int
}

const maxAnswers = 16

// Answered counts the responses whose body contains s.
func (r Result) Answered(s string) int {
	n := 0
	for body, c := range r.Answers {
		if strings.Contains(body, s) {
			n += c
		}
	}
	return n
}

// String is one line for logs and test failures.
func (r Result) String() string {
	s := fmt.Sprintf("%d sent, %d failed, p50 %s, p99 %s, max %s", r.Sent, r.Failed, ms(r.P50), ms(r.P99), ms(r.Max))
	if len(r.Errors) > 0 {
		s += fmt.Sprintf(", errors %v", r.Errors)
	}
	return s
}

// Start starts sending rate requests per second to url. A request fails
// on any client error or a status other than 200; none times out before 60s,
// longer than any restart.
func Start(ctx context.Context, url string, rate int) *Load {
	// Keep-alive like a reverse proxy does: each restart then also tests
	// that idle connections are closed cleanly.
	return StartWith(ctx, url, rate, &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second})
}

// StartWith is Start through tr: e.g. HTTPS to a name that resolves only in
// the test, trusting only the test's CA.
func StartWith(ctx context.Context, url string, rate int, tr *http.Transport) *Load {
	ctx, cancel := context.WithCancel(ctx)
	l := &Load{cancel: cancel, done: make(chan struct{}), errs: map[string]int{}, answers: map[string]int{}}
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	go func() {
		defer close(l.done)
		defer tr.CloseIdleConnections()
		var wg sync.WaitGroup
		defer wg.Wait()
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			wg.Go(func() { l.one(client, url) })
		}
	}()
	return l
}

// one sends a request detached from the load's context: Stop lets requests
// already sent finish, as a user would wait for them.
func (l *Load) one(client *http.Client, url string) {
	start := time.Now()
	var body []byte
	answered := false
	resp, err := client.Get(url)
	if err == nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, 4096))
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
		}
		resp.Body.Close()
		answered = err == nil
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
	}
	d := time.Since(start)
	l.mu.Lock()
	defer l.mu.Unlock()
	if answered {
		key := strings.TrimSpace(string(body))
		if _, seen := l.answers[key]; !seen && len(l.answers) >= maxAnswers {
			key = "other"
		}
		l.answers[key]++
	}
	if err != nil {
		l.failed++
		l.errs[err.Error()]++
		return
	}
	l.latencies = append(l.latencies, d)
}

// Stop stops sending, waits for the requests in flight and sums up.
func (l *Load) Stop() Result {
	l.cancel()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	r := Result{Sent: len(l.latencies) + l.failed, Failed: l.failed, Errors: l.errs, Answers: l.answers}
	if len(l.latencies) > 0 {
		s := slices.Sorted(slices.Values(l.latencies))
		r.P50, r.P99, r.Max = percentile(s, 50), percentile(s, 99), s[len(s)-1]
	}
	return r
}

func ms(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }

// percentile uses the nearest-rank method on sorted s.
func percentile(s []time.Duration, p int) time.Duration {
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)]
}
