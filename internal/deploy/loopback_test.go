package deploy

// Tests against a bare sshd on a loopback port: everything that fails, or
// is decided, before a service would be involved.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/remote/sshdtest"
)

// nothingUploaded fails the test if the deploy path holds anything.
func nothingUploaded(t *testing.T, dp string) {
	t.Helper()
	entries, _ := os.ReadDir(dp)
	if len(entries) > 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("deploy path %s not empty: %v", dp, names)
	}
}

func TestRefusedBeforeUpload(t *testing.T) {
	bin := appBinary(t, "v1", "c1")
	cases := []struct {
		name  string
		setup func(t *testing.T, srv *sshdtest.Server) (alias string)
		want  func(srv *sshdtest.Server) []string
	}{
		{"unknown alias", func(t *testing.T, srv *sshdtest.Server) string { return "no-such-alias" },
			func(*sshdtest.Server) []string { return []string{"unknown ssh alias", "Host no-such-alias"} }},
		{"unknown host", func(t *testing.T, srv *sshdtest.Server) string {
			if err := os.WriteFile(srv.KnownHostsPath, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return srv.Alias
		}, func(*sshdtest.Server) []string { return []string{"unknown host", "SHA256:", "accept-new"} }},
		{"changed host key", func(t *testing.T, srv *sshdtest.Server) string {
			other := sshdtest.WriteKey(t, filepath.Join(t.TempDir(), "k"), "ed25519")
			line := fmt.Sprintf("[127.0.0.1]:%d %s", srv.Port, ssh.MarshalAuthorizedKey(other))
			if err := os.WriteFile(srv.KnownHostsPath, []byte(line), 0o600); err != nil {
				t.Fatal(err)
			}
			return srv.Alias
		}, func(srv *sshdtest.Server) []string { return []string{"HOST KEY CHANGED", srv.KnownHostsPath + ":1"} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := sshdtest.Start(t)
			alias := tc.setup(t, srv)
			dp := filepath.Join(t.TempDir(), "dp")
			var out bytes.Buffer
			o := testOptions([]string{alias}, srv.ConfigPath, dp, &out)
			o.Binary = bin
			_, err := Deploy(context.Background(), o, false)
			if err == nil {
				t.Fatalf("deploy succeeded:\n%s", out.String())
			}
			for _, w := range tc.want(srv) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			nothingUploaded(t, dp)
			if strings.Contains(srv.Log(), "Accepted publickey") {
				t.Error("logged in to the server")
			}
		})
	}
}

// A binary built for another architecture is refused before the upload.
func TestArchitectureMismatchRefused(t *testing.T) {
	bin := armBinary(t)
	srv := sshdtest.Start(t)
	dp := filepath.Join(t.TempDir(), "dp")
	var out bytes.Buffer
	o := testOptions([]string{srv.Alias}, srv.ConfigPath, dp, &out)
	o.Binary = bin
	_, err := Deploy(context.Background(), o, false)
	if err == nil || !strings.Contains(err.Error(), "built for arm64") || !strings.Contains(err.Error(), "-goarch=amd64") {
		t.Fatalf("want an architecture refusal, got %v", err)
	}
	nothingUploaded(t, dp)
}

// A binary that doesn't match its checksum file is refused locally.
func TestStaleChecksumRefused(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "app")
	b, _ := os.ReadFile(appBinary(t, "v1", "c1"))
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin+".sha256", []byte(strings.Repeat("0", 64)+"  app\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := testOptions([]string{"x"}, "", t.TempDir(), &bytes.Buffer{})
	o.Binary = bin
	if _, err := Deploy(context.Background(), o, false); err == nil || !strings.Contains(err.Error(), "buildApp") {
		t.Fatalf("got %v", err)
	}
}

// The dry run prints the resolved connection and the steps, and connects
// nowhere.
func TestDryRunConnectsNowhere(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	dir := t.TempDir()
	port := l.Addr().(*net.TCPAddr).Port
	cfg := filepath.Join(dir, "config")
	text := fmt.Sprintf("Host web-1 web-2\n  HostName 127.0.0.1\n  Port %d\n  User admin\n  IdentityFile %s/key\n  ProxyJump none\n", port, dir)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	o := testOptions([]string{"web-1", "web-2"}, cfg, "/home/admin", &out)
	o.Binary = appBinary(t, "v1", "c1")
	if _, err := Deploy(context.Background(), o, true); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"hostname 127.0.0.1\n", fmt.Sprintf("port %d\n", port), "user admin\n", "identityfile " + dir + "/key\n", "proxyjump none\n", "stricthostkeychecking ask\n", "# step 4:", "/home/admin/releases/"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry run lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Count(out.String(), "hostname 127.0.0.1") != 2 {
		t.Errorf("want both hosts:\n%s", out.String())
	}
	time.Sleep(50 * time.Millisecond)
	if n := accepted.Load(); n != 0 {
		t.Errorf("dry run connected %d times", n)
	}
}

func dialServer(t *testing.T, srv *sshdtest.Server, alias, dp string) *Server {
	t.Helper()
	c, err := remote.Dial(context.Background(), remote.Options{Alias: alias, ConfigPath: srv.ConfigPath, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	o := testOptions(nil, srv.ConfigPath, dp, nil)
	return &Server{Alias: alias, c: c, svc: o.Service}
}

// Two deploys at once: the second fails at once saying who holds the lock
// since when, or waits for it with DEPLOY_LOCK_WAIT.
func TestLockSecondDeployFailsOrWaits(t *testing.T) {
	srv := sshdtest.Start(t)
	dp := t.TempDir()
	a, b := dialServer(t, srv, srv.Alias, dp), dialServer(t, srv, srv.Alias, dp)
	ctx := context.Background()
	noLog := func(string) {}
	la, err := a.acquireLock(ctx, "alice@laptop", "deploying abc", 0, noLog)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.acquireLock(ctx, "bob@desk", "deploying def", 0, noLog)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "alice@laptop deploying abc since 20") || !strings.Contains(err.Error(), "DEPLOY_LOCK_WAIT") {
		t.Fatalf("second lock: %v", err)
	}
	holder, err := b.lockHolder(ctx)
	if err != nil || !strings.HasPrefix(holder, "held by alice@laptop") {
		t.Errorf("lock holder %q %v", holder, err)
	}
	// With a wait, the second gets it once the first releases: released
	// only once the second said it waits, so a slow machine can't make the
	// second find the lock already free.
	var waited []string
	var releasedAt time.Time
	done := make(chan struct{})
	lb, err := b.acquireLock(ctx, "bob@desk", "deploying def", 30*time.Second, func(m string) {
		waited = append(waited, m)
		if len(waited) == 1 {
			go func() {
				time.Sleep(300 * time.Millisecond)
				releasedAt = time.Now()
				la.release(ctx)
				close(done)
			}()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	<-done
	if len(waited) != 1 || !strings.Contains(waited[0], "alice@laptop") || releasedAt.IsZero() {
		t.Errorf("messages %q, want one naming alice@laptop before the release", waited)
	}
	if lb.Stale != "" {
		t.Errorf("clean release looked stale: %q", lb.Stale)
	}
	lb.release(ctx)
	if holder, _ := b.lockHolder(ctx); holder != "" {
		t.Errorf("after release: %q", holder)
	}
}

// A deploy that dies holding the lock (its connection cut) leaves a lock
// the next deploy takes without any cleanup, and names the dead holder.
func TestLockOfDeadDeployRecognised(t *testing.T) {
	srv := sshdtest.Start(t)
	proxy := sshdtest.StartProxy(t, srv.Addr())
	srv.AddAlias(t, "flaky", proxy.Port)
	dp := t.TempDir()
	dead := dialServer(t, srv, "flaky", dp)
	if _, err := dead.acquireLock(context.Background(), "carol@gone", "deploying 123", 0, func(string) {}); err != nil {
		t.Fatal(err)
	}
	proxy.Cut() // the deploy's machine vanishes mid-deploy
	next := dialServer(t, srv, srv.Alias, dp)
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := next.acquireLock(context.Background(), "dave@desk", "deploying 456", 0, func(string) {})
		if err == nil {
			if !strings.Contains(l.Stale, "carol@gone") {
				t.Errorf("stale holder not named: %q", l.Stale)
			}
			l.release(context.Background())
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lock of the dead deploy never released: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
