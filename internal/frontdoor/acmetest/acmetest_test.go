package acmetest

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m)) }

// TrustListener puts each Pebble's listener CA in the server's trust
// bundle, several at once; Untrust takes every one of them out again and
// leaves the other certificates of the folder alone.
func TestUntrustRemovesEveryListenerTrustListenerAdded(t *testing.T) {
	testenv.Need(t, Available(), Prereq)
	sb := sandboxtest.Get(t)
	cl := sandboxtest.Dial(t, sb)
	ctx := context.Background()
	var cas []*Server
	for range 2 {
		ca, err := Start(ctx, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(ca.Close)
		if err := ca.TrustListener(ctx, cl); err != nil {
			t.Fatal(err)
		}
		cas = append(cas, ca)
	}
	const other = "/usr/local/share/ca-certificates/not-acmetest.txt"
	if _, err := sb.Run(ctx, "touch", other); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = sb.Run(context.Background(), "rm", "-f", other) })
	// The bundle as update-ca-certificates writes it, without line ends
	// (it may add its own).
	bundle := func() string {
		t.Helper()
		out, err := sb.Run(ctx, "cat", "/etc/ssl/certs/ca-certificates.crt")
		if err != nil {
			t.Fatal(err)
		}
		return strings.ReplaceAll(out, "\n", "")
	}
	pem := func(ca *Server) string { return strings.ReplaceAll(string(ca.listenPEM), "\n", "") }
	b := bundle()
	for i, ca := range cas {
		if !strings.Contains(b, pem(ca)) {
			t.Errorf("listener CA %d is not in the server's trust bundle after TrustListener", i)
		}
	}

	if err := Untrust(ctx, cl); err != nil {
		t.Fatal(err)
	}
	b = bundle()
	for i, ca := range cas {
		if strings.Contains(b, pem(ca)) {
			t.Errorf("listener CA %d is still in the server's trust bundle after Untrust", i)
		}
	}
	out, err := sb.Run(ctx, "ls", "-A", "/usr/local/share/ca-certificates")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "slipway-acmetest-") || !strings.Contains(out, "not-acmetest.txt") {
		t.Errorf("after Untrust the folder holds %q: want no slipway-acmetest-*.crt and the other file kept", out)
	}
}
