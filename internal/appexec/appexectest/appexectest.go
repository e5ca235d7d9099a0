// Package appexectest watches what the tests of exec and psql run on the
// sandbox (transient units) for secrets; the app they run is set up by
// internal/sandbox/sandboxtest/apptest.
package appexectest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/sandbox"
)

// WatchUnits samples `systemctl show` of every transient unit systemd-run
// starts on sb (run-*.service: what exec and psql run in) every 100 ms until
// the returned stop is called; stop returns every sample, for the test to
// search (a property such as ExecStart or Description holding a marker). A
// sample can miss a unit shorter than its period: keep what you watch
// running for longer.
func WatchUnits(t testing.TB, sb *sandbox.Instance) (stop func() string) {
	t.Helper()
	var (
		mu      sync.Mutex
		samples strings.Builder
		quit    = make(chan struct{})
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			out, _ := sb.Run(context.Background(), "systemctl", "show", "run-*.service")
			mu.Lock()
			samples.WriteString(out)
			mu.Unlock()
			select {
			case <-quit:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	stop = func() string {
		once.Do(func() { close(quit); <-done })
		mu.Lock()
		defer mu.Unlock()
		return samples.String()
	}
	t.Cleanup(func() { stop() })
	return stop
}

// LinesWith is the distinct lines of s that hold marker, each cut to the
// 80 characters either side of it: a failure message that shows where a
// marker leaked without repeating every sample.
func LinesWith(s, marker string) string {
	var b strings.Builder
	seen := map[string]bool{}
	for l := range strings.Lines(s) {
		i := strings.Index(l, marker)
		if i < 0 {
			continue
		}
		l = l[max(0, i-80):min(len(l), i+len(marker)+80)]
		if !seen[l] {
			seen[l] = true
			b.WriteString("\t" + strings.TrimSpace(l) + "\n")
		}
	}
	return b.String()
}
