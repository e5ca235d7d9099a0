// Package appexectest puts the real app on the sandbox as the current
// release, the way deploy would leave it, for tests of what runs it there
// (exec, createAdmin).
package appexectest

import (
	"bytes"
	"context"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/build"
	"github.com/slipway-dev/slipway/internal/freeport"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/sandbox"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/service"
)

// Installed provisions the app's service on the test binary's sandbox
// (on a free port), writes the env file (DATABASE_URL, then the extra
// lines), builds the app from root with the given stamp and makes it the
// current release. It returns the connection and the service's settings.
func Installed(t *testing.T, root, version, commit string, extraEnv ...string) (*remote.Client, service.Config) {
	t.Helper()
	sb := sandboxtest.Get(t)
	ctx := context.Background()
	cl := sandboxtest.Dial(t, sb)
	port, err := freeport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	c := service.DefaultConfig()
	c.ListenAddr = "127.0.0.1:" + strconv.Itoa(port)
	var out bytes.Buffer
	if _, err := service.Provision(ctx, cl, c, &out); err != nil {
		t.Fatalf("provision: %v\n%s", err, out.String())
	}
	dbURL, err := sb.DatabaseURL()
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Join(append([]string{"DATABASE_URL=" + dbURL}, extraEnv...), "\n") + "\n"
	// Secrets through stdin, never argv; root:root 600, as provisioning
	// leaves the file.
	if o, err := cl.RunRoot(ctx, "install -m 600 /dev/stdin "+remote.Quote(c.EnvFile()), strings.NewReader(env)); err != nil {
		t.Fatalf("env file: %v\n%s", err, o)
	}
	bin := filepath.Join(t.TempDir(), "app")
	if _, err := build.Run(ctx, build.Options{Dir: root, GOARCH: runtime.GOARCH, Output: bin, Version: version, Commit: commit}); err != nil {
		t.Fatal(err)
	}
	// A release of this run's own: the sandbox may still run an earlier one.
	id := "t" + strconv.FormatInt(time.Now().UnixNano(), 36)
	rel := c.ReleasesDir() + "/" + id
	if o, err := cl.Run(ctx, "mkdir -p "+remote.Quote(rel), nil); err != nil {
		t.Fatalf("install: %v\n%s", err, o)
	}
	if err := cl.Upload(ctx, bin, rel+"/app", 0o755, nil); err != nil {
		t.Fatalf("install: %v", err)
	}
	for _, cmd := range []string{
		remote.QuoteAll([]string{"ln", "-sfn", "releases/" + id, c.CurrentLink()}),
		remote.QuoteAll([]string{"chmod", "700", c.DeployPath}),
	} {
		if o, err := cl.Run(ctx, cmd, nil); err != nil {
			t.Fatalf("install: %s: %v\n%s", cmd, err, o)
		}
	}
	return cl, c
}

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
