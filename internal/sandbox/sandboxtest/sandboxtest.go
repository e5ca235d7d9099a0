// Package sandboxtest gives a test package one sandbox (a real Debian server
// booted with systemd-nspawn) for all its tests: booted on the first Get,
// stopped when the tests end.
//
//	func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m)) }
//
//	func TestDeploy(t *testing.T) {
//		sb := sandboxtest.Get(t)
//		// DEPLOY_HOST=sb.Alias DEPLOY_SSH_CONFIG=sb.ConfigPath, or:
//		out := sandboxtest.Run(t, sb, "systemctl", "is-active", "app")
//	}
//
// Each test binary gets its own instance (own name, state dir, sshd port),
// so packages that go test runs in parallel never share one. Tests of one
// package do share it: clean up what a test installs, or use unique names.
package sandboxtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/sandbox"
	"github.com/slipway-dev/slipway/internal/testenv"
	"github.com/slipway-dev/slipway/internal/version"
)

var (
	mainRunning bool
	once        sync.Once
	inst        *sandbox.Instance
	startErr    error
	stateDir    string
)

// Main runs the tests of m and then stops the sandbox if a test booted it.
// Call it from TestMain; it returns the exit code for os.Exit. Should the
// binary die before (crash, go test timeout), the kernel still sends the
// container SIGTERM (sandbox.WithStopOnExit).
func Main(m *testing.M) int {
	mainRunning = true
	code := m.Run()
	if !shutdown("the empty sandbox", empty, emptyDir) {
		code = 1
	}
	if !shutdown("the second sandbox", second, secondDir) {
		code = 1
	}
	if !shutdownPrivate() {
		code = 1
	}
	if !shutdown("sandbox", inst, stateDir) {
		code = 1
	}
	return code
}

// shutdown stops a sandbox this binary booted (i nil: none) and removes its
// state dir; false when the stop failed.
func shutdown(name string, i *sandbox.Instance, dir string) bool {
	ok := true
	if i != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := i.Stop(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "sandboxtest: stop %s: %v\n", name, err)
			ok = false
		}
	}
	if dir != "" {
		os.RemoveAll(dir)
	}
	return ok
}

// Get returns the package's sandbox, booting it on first use (seconds with a
// cached base, about a minute more the first time on a machine). With -short
// the test is skipped: the fast loop is everything but the sandbox. Without
// root, Linux, debootstrap or systemd-nspawn the test is skipped, or fails
// in CI; any other failure to boot fails the test.
func Get(t testing.TB) *sandbox.Instance {
	t.Helper()
	if !mainRunning {
		t.Fatal("sandboxtest.Get needs TestMain to call sandboxtest.Main, which stops the sandbox")
	}
	if testing.Short() {
		t.Skip("needs the sandbox (a booted Debian server): skipped with -short")
	}
	once.Do(start)
	booted(t, "", startErr)
	return inst
}

// booted skips (or fails in CI) a test whose sandbox lacks a prerequisite,
// and fails it when the boot failed otherwise.
func booted(t testing.TB, which string, err error) {
	t.Helper()
	var pe *sandbox.PrereqError
	if errors.As(err, &pe) {
		testenv.Need(t, false, pe.Error())
	}
	if err != nil {
		t.Fatalf("sandboxtest: %s%v", which, err)
	}
}

// Run runs a command inside the sandbox as root and returns its combined
// output; the test fails if the command does.
func Run(t testing.TB, sb *sandbox.Instance, name string, arg ...string) string {
	t.Helper()
	out, err := sb.Run(context.Background(), name, arg...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Dial connects to the sandbox over SSH as its admin user, with its own
// ssh config and known_hosts; the connection closes when the test ends.
func Dial(t testing.TB, sb *sandbox.Instance) *remote.Client {
	t.Helper()
	c, err := remote.Dial(context.Background(), remote.Options{Alias: sb.Alias, ConfigPath: sb.ConfigPath, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Serving is what the app listening at addr (host:port: the sandbox shares
// this machine's network) reports at /version; the test fails if it doesn't
// answer.
func Serving(t testing.TB, addr string) version.Info {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/version")
	if err != nil {
		t.Fatalf("app not answering: %v", err)
	}
	defer resp.Body.Close()
	var v version.Info
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("/version at %s: %v", addr, err)
	}
	return v
}

func start() {
	inst, stateDir, startErr = boot(fmt.Sprintf("test-%d", os.Getpid()))
}

// boot brings up a sandbox of this binary's own under name.
func boot(name string, extra ...sandbox.Option) (*sandbox.Instance, string, error) {
	if err := sandbox.CheckPrereqs(); err != nil {
		return nil, "", err
	}
	dir, err := os.MkdirTemp("", "slipway-sandboxtest-")
	if err != nil {
		return nil, "", err
	}
	// The env may point at another cache or mirror; name and state dir are
	// always this binary's own, never a developer's `sandbox:up`.
	opts := append(sandbox.FromEnv(os.Getenv),
		sandbox.WithName(name),
		sandbox.WithStateDir(dir),
		sandbox.WithStopOnExit(),
		sandbox.WithStdout(os.Stderr))
	opts = append(opts, extra...)
	sb, err := sandbox.New(nil, opts...)
	if err != nil {
		return nil, dir, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	i, err := sb.Up(ctx)
	return i, dir, err
}

// WatchArgv samples the command line of every process of sandbox sb (the
// processes in its PID namespace, read from this machine's /proc every
// 50 ms) until the returned stop is called; stop returns the processes
// ("<pid> <program>", the pid as this machine sees it) whose arguments held
// one of secrets. The watch runs in the test, so it puts no secret in any
// argv itself. A sample can miss a process shorter than its period: run
// what you watch long enough, or often.
func WatchArgv(t testing.TB, sb *sandbox.Instance, secrets ...string) (stop func() []string) {
	t.Helper()
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", sb.Leader))
	if err != nil {
		t.Fatalf("the sandbox's PID namespace: %v", err)
	}
	var (
		mu   sync.Mutex
		hits []string
		quit = make(chan struct{})
		done = make(chan struct{})
	)
	sample := func() {
		procs, _ := os.ReadDir("/proc")
		for _, p := range procs {
			dir := "/proc/" + p.Name()
			if p.Name()[0] < '0' || p.Name()[0] > '9' {
				continue
			}
			if l, err := os.Readlink(dir + "/ns/pid"); err != nil || l != ns {
				continue
			}
			b, err := os.ReadFile(dir + "/cmdline")
			if err != nil {
				continue
			}
			args := strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
			for _, s := range secrets {
				if !strings.Contains(args, s) {
					continue
				}
				comm, _ := os.ReadFile(dir + "/comm")
				hit := p.Name() + " " + strings.TrimSpace(string(comm))
				mu.Lock()
				if !slices.Contains(hits, hit) {
					hits = append(hits, hit)
				}
				mu.Unlock()
			}
		}
	}
	go func() {
		defer close(done)
		for {
			sample()
			select {
			case <-quit:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	stop = func() []string {
		once.Do(func() {
			close(quit)
			<-done
		})
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(hits)
	}
	t.Cleanup(func() { stop() })
	return stop
}
