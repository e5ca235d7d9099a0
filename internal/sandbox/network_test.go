package sandbox

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNetworkOptionsRefuseWhatCannotWork(t *testing.T) {
	nw := &Network{Bridge: "slw00000000", Prefix: netip.MustParsePrefix("10.99.1.0/24"), HostAddr: netip.MustParseAddr("10.99.1.1")}
	for _, tc := range []struct {
		name string
		opts []Option
		want string
	}{
		{"no PostgreSQL offline", []Option{WithNetwork(nw, 2), WithoutPostgreSQL()}, "WithoutPostgreSQL and WithNetwork together"},
		{"this machine's address", []Option{WithNetwork(nw, 1)}, "want 2-254"},
		{"past the prefix", []Option{WithNetwork(nw, 255)}, "want 2-254"},
		{"no network", []Option{WithNetwork(nil, 2)}, "nil Network"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(nil, tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("New: %v, want one line containing %q", err, tc.want)
			}
		})
	}
	if got := nw.Addr(7).String(); got != "10.99.1.7" {
		t.Errorf("Addr(7) = %s", got)
	}
}

func TestPickPrefixAvoidsWhatThisMachineUses(t *testing.T) {
	// Every 10.64.0.0/10 /24 but one is taken: the pick must be that one.
	used := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	if _, err := pickPrefix(used); err == nil || !strings.Contains(err.Error(), "no free") {
		t.Errorf("all taken: %v", err)
	}
	// Half the range taken: picks land in the other half only.
	used = []netip.Prefix{netip.MustParsePrefix("10.64.0.0/11"), netip.MustParsePrefix("192.0.2.0/24")}
	for range 50 {
		p, err := pickPrefix(used)
		if err != nil || p.Overlaps(used[0]) || !netip.MustParsePrefix("10.96.0.0/11").Contains(p.Addr()) || p.Bits() != 24 {
			t.Fatalf("picked %v %v with 10.64.0.0/11 taken", p, err)
		}
	}
}

// newNetwork makes a Network closed at the end of the test, after the
// sandboxes on it (cleanups run last first: call it before newTestSandbox).
func newNetwork(t *testing.T) *Network {
	t.Helper()
	nw, err := NewNetwork(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nw.Close(); err != nil {
			t.Errorf("close network: %v", err)
		}
		if _, err := net.InterfaceByName(nw.Bridge); err == nil {
			t.Errorf("bridge %s still there after Close", nw.Bridge)
		}
	})
	return nw
}

// inside runs a bash command line inside the sandbox and returns its output
// and error (not failing the test: some are meant to fail).
func inside(t *testing.T, inst *Instance, script string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := inst.Command(ctx, "bash", "-c", script).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// dialable reports whether a TCP connection to addr opens within 2 s.
func dialable(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
	}
	return err
}

func TestPrivateSandboxesReachEachOtherAndThisMachineOnly(t *testing.T) {
	needSandbox(t)
	nw := newNetwork(t)
	// This machine's listener, on its address on the network and on its
	// loopback: the sandboxes' firewall must never touch the latter.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "this machine") }))
	l, err := net.Listen("tcp", net.JoinHostPort(nw.HostAddr.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	hostURL := srv.URL
	port := l.Addr().(*net.TCPAddr).Port
	lo, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer lo.Close()
	go func() {
		for {
			c, err := lo.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	sa, sb := newPrivateSandbox(t, "pa", nw, 2), newPrivateSandbox(t, "pb", nw, 3)
	start := time.Now()
	a := up(t, sa)
	t.Logf("private sandbox up in %s (cold: includes building the private base)", time.Since(start).Round(100*time.Millisecond))
	start = time.Now()
	b := up(t, sb)
	t.Logf("second private sandbox up in %s", time.Since(start).Round(100*time.Millisecond))
	if a.Host != nw.Addr(2).String() || a.Port != 22 || b.Host != nw.Addr(3).String() {
		t.Fatalf("a at %s:%d, b at %s:%d, want %s:22 and %s:22", a.Host, a.Port, b.Host, b.Port, nw.Addr(2), nw.Addr(3))
	}
	// ssh -F with the generated config reaches each at its address.
	checkServes(t, a)
	checkServes(t, b)

	t.Run("they reach each other and this machine", func(t *testing.T) {
		if out, err := inside(t, a, "exec 3<>/dev/tcp/"+b.Host+"/22; head -c 7 <&3"); err != nil || out != "SSH-2.0" {
			t.Errorf("a to b's sshd: %q %v", out, err)
		}
		if out, err := inside(t, b, "exec 3<>/dev/tcp/"+a.Host+"/22; head -c 7 <&3"); err != nil || out != "SSH-2.0" {
			t.Errorf("b to a's sshd: %q %v", out, err)
		}
		for _, inst := range []*Instance{a, b} {
			if out, err := inside(t, inst, "curl -sS --max-time 10 "+hostURL); err != nil || out != "this machine" {
				t.Errorf("%s to this machine's %s: %q %v", inst.Name, hostURL, out, err)
			}
		}
	})

	t.Run("no route out", func(t *testing.T) {
		for _, inst := range []*Instance{a, b} {
			routes, err := inside(t, inst, "ip -4 route; ip -6 route")
			if err != nil || strings.Contains(routes, "default") {
				t.Errorf("%s routes: %v\n%s", inst.Name, err, routes)
			}
			// 192.0.2.0/24 (TEST-NET-1) and a public address: outside the
			// prefix, so no route.
			for _, dst := range []string{"1.1.1.1/443", "192.0.2.1/80"} {
				out, err := inside(t, inst, "exec 3<>/dev/tcp/"+dst)
				if err == nil || !strings.Contains(out, "Network is unreachable") {
					t.Errorf("%s connecting to %s: %v %q, want Network is unreachable", inst.Name, dst, err, out)
				}
			}
		}
	})

	t.Run("a firewall inside applies to that sandbox alone", func(t *testing.T) {
		rules := fmt.Sprintf(`table inet slwtest {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport { 22, %d } drop
	}
	chain output {
		type filter hook output priority 0; policy accept;
		tcp dport %d drop
	}
}
`, port, port)
		cmd := a.Command(t.Context(), "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft inside a (CAP_NET_ADMIN?): %v: %s", err, out)
		}
		if err := dialable(net.JoinHostPort(a.Host, "22")); err == nil {
			t.Errorf("a's port 22 reachable from this machine despite its drop rule")
		}
		if out, err := inside(t, a, "curl -sS --max-time 3 "+hostURL); err == nil {
			t.Errorf("a reached %s despite its output drop rule: %q", hostURL, out)
		}
		if err := dialable(net.JoinHostPort(b.Host, "22")); err != nil {
			t.Errorf("b's port 22 after a's firewall: %v", err)
		}
		if err := dialable(fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
			t.Errorf("this machine's own 127.0.0.1:%d after a's firewall: %v", port, err)
		}
		if out, err := inside(t, b, "curl -sS --max-time 10 "+hostURL); err != nil || out != "this machine" {
			t.Errorf("b to this machine after a's firewall: %q %v", out, err)
		}
		if _, err := a.Run(t.Context(), "nft", "delete", "table", "inet", "slwtest"); err != nil {
			t.Fatal(err)
		}
		if err := dialable(net.JoinHostPort(a.Host, "22")); err != nil {
			t.Errorf("a's port 22 once its rules are gone: %v", err)
		}
	})

	for _, s := range []struct {
		sb   *Sandbox
		inst *Instance
	}{{sa, a}, {sb, b}} {
		if err := s.sb.Down(t.Context()); err != nil {
			t.Fatalf("down: %v", err)
		}
		checkGone(t, s.sb, s.inst)
	}
	if m := bridgeMembers(nw.Bridge); len(m) != 0 {
		t.Errorf("interfaces left on the bridge after down: %v", m)
	}
}

// newPrivateSandbox is newTestSandbox on nw at .host.
func newPrivateSandbox(t *testing.T, name string, nw *Network, host int, opts ...Option) *Sandbox {
	t.Helper()
	opts = append(append(FromEnv(os.Getenv),
		WithName(fmt.Sprintf("test-%s-%d", name, os.Getpid())),
		WithStateDir(t.TempDir()),
		WithStopOnExit(),
		WithNetwork(nw, host),
		WithStdout(t.Output())), opts...)
	sb, err := New(nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := sb.Down(ctx); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return sb
}

func TestNetworksMadeAtOnceNeverShareAPrefixAndOrphansGo(t *testing.T) {
	needSandbox(t)
	const n = 4
	nets := make([]*Network, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { nets[i], errs[i] = NewNetwork(t.Context()) })
	}
	wg.Wait()
	seen := map[netip.Prefix]bool{}
	for i, nw := range nets {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		t.Cleanup(func() { _ = nw.Close() })
		if seen[nw.Prefix] {
			t.Errorf("prefix %s picked twice", nw.Prefix)
		}
		seen[nw.Prefix] = true
		ifc, err := net.InterfaceByName(nw.Bridge)
		if err != nil {
			t.Fatalf("bridge %s: %v", nw.Bridge, err)
		}
		addrs, _ := ifc.Addrs()
		if len(addrs) != 1 || addrs[0].String() != netip.PrefixFrom(nw.HostAddr, 24).String() {
			t.Errorf("bridge %s addresses %v, want %s/24", nw.Bridge, addrs, nw.HostAddr)
		}
	}
	// A bridge whose maker died without Close: the next NewNetwork deletes it.
	orphan := nets[0]
	if err := os.WriteFile(filepath.Join(netOwnerDir, orphan.Bridge), []byte("999999999 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	next, err := NewNetwork(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = next.Close() })
	if _, err := net.InterfaceByName(orphan.Bridge); err == nil {
		t.Errorf("orphan bridge %s still there after the next NewNetwork", orphan.Bridge)
	}
	for _, nw := range nets[1:] {
		if _, err := net.InterfaceByName(nw.Bridge); err != nil {
			t.Errorf("a live process's bridge %s was deleted: %v", nw.Bridge, err)
		}
	}
	for _, nw := range nets {
		if err := nw.Close(); err != nil {
			t.Errorf("close %s: %v", nw.Bridge, err)
		}
		if _, err := os.Stat(filepath.Join(netOwnerDir, nw.Bridge)); err == nil {
			t.Errorf("owner file of %s left after Close", nw.Bridge)
		}
	}
}
