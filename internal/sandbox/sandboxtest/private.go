package sandboxtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/slipway-dev/slipway/internal/sandbox"
)

var (
	privateMu  sync.Mutex
	network    *sandbox.Network
	networkErr error
	// privates are the private sandboxes booted, by host number.
	privates = map[int]*privateBox{}
)

type privateBox struct {
	inst *sandbox.Instance
	dir  string
	err  error
}

// Network returns the package's private network (sandbox.NewNetwork),
// created on first use and closed by Main after its sandboxes are down:
// this machine is Network(t).HostAddr on it.
func Network(t testing.TB) *sandbox.Network {
	t.Helper()
	if !mainRunning {
		t.Fatal("sandboxtest.Network needs TestMain to call sandboxtest.Main, which closes it")
	}
	if testing.Short() {
		t.Skip("needs the sandbox (a booted Debian server): skipped with -short")
	}
	privateMu.Lock()
	defer privateMu.Unlock()
	return networkLocked(t)
}

func networkLocked(t testing.TB) *sandbox.Network {
	t.Helper()
	if network == nil && networkErr == nil {
		if networkErr = sandbox.CheckPrereqs(); networkErr == nil {
			network, networkErr = sandbox.NewNetwork(context.Background())
		}
	}
	booted(t, "private network: ", networkErr)
	return network
}

// Private returns the package's private sandbox at address .host (2-254)
// of Network(t) (sandbox.WithNetwork): its own network namespace, sshd on
// port 22 at Instance.Host, no route out, CAP_NET_ADMIN, every package the
// tests install preinstalled. It boots on the first call for that host,
// with opts added (e.g. sandbox.WithPersistentRoot()); later calls return
// it as it is. Main stops it. Get's sandbox is not booted for it.
func Private(t testing.TB, host int, opts ...sandbox.Option) *sandbox.Instance {
	t.Helper()
	nw := Network(t)
	privateMu.Lock()
	defer privateMu.Unlock()
	p := privates[host]
	if p == nil {
		p = &privateBox{}
		p.inst, p.dir, p.err = boot(fmt.Sprintf("test-%d-p%d", os.Getpid(), host), append([]sandbox.Option{sandbox.WithNetwork(nw, host)}, opts...)...)
		privates[host] = p
	}
	booted(t, fmt.Sprintf("private sandbox .%d: ", host), p.err)
	return p.inst
}

// shutdownPrivate stops the private sandboxes, then deletes their network.
func shutdownPrivate() bool {
	ok := true
	for host, p := range privates {
		if !shutdown(fmt.Sprintf("private sandbox .%d", host), p.inst, p.dir) {
			ok = false
		}
	}
	if network != nil {
		if err := network.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "sandboxtest: close the private network: %v\n", err)
			ok = false
		}
	}
	return ok
}
