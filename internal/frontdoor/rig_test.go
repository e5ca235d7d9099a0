package frontdoor_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"github.com/slipway-dev/slipway/internal/remote/remotetest"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/slipway-dev/slipway/internal/admin/admintest"
	"github.com/slipway-dev/slipway/internal/freeport"
	"github.com/slipway-dev/slipway/internal/frontdoor"
	"github.com/slipway-dev/slipway/internal/frontdoor/acmetest"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/sandbox"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest/apptest"
	"github.com/slipway-dev/slipway/internal/service"
	"github.com/slipway-dev/slipway/internal/testenv"
)

// clientAddr is where the tests' clients connect from: not 127.0.0.1, so
// the app tells a client forwarded by Caddy from Caddy itself.
const clientAddr = "127.0.0.5"

const pepper = "frontdoor-test-pepper-0123456789abcdef0123456789"

// metricsToken is the app's METRICS_TOKEN: what a scraper sends.
const metricsToken = "frontdoor-test-metrics-token-0123456789"

// rig is the sandbox with the real app as its current release, and Pebble
// on this machine, trusted by the sandbox's Caddy.
type rig struct {
	app *apptest.App
	sb  *sandbox.Instance
	r   *remote.Client
	svc service.Config
	ca  *acmetest.Server
	// pool trusts Pebble's certificates only.
	pool *x509.CertPool
	// metrics is the app's METRICS_ADDR: a port of this run's own (the
	// sandbox shares this machine's network with other tests).
	metrics string
}

func newRig(t *testing.T, o acmetest.Options) *rig {
	t.Helper()
	testenv.Need(t, acmetest.Available(), acmetest.Prereq)
	sb := sandboxtest.Get(t)
	ctx := context.Background()
	ca, err := acmetest.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ca.Close)
	metrics, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	a := apptest.Installed(t, sb, service.DefaultConfig(), apptest.Options{Binary: apptest.Build(t, "v1", "c0ffee01"),
		Env: []string{"PASSWORD_PEPPER=" + pepper, "METRICS_ADDR=" + metrics, "METRICS_TOKEN=" + metricsToken}})
	cl, svc := a.Client, a.Service
	if err := ca.TrustListener(ctx, cl); err != nil {
		t.Fatal(err)
	}
	pool, _, err := ca.Roots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{app: a, sb: sb, r: cl, svc: svc, ca: ca, pool: pool, metrics: metrics}
}

// config is the front door of the rig's app for domains, each resolving to
// this machine in Pebble's DNS.
func (g *rig) config(t *testing.T, domains ...string) frontdoor.Config {
	t.Helper()
	for _, d := range domains {
		if err := g.ca.AddA(context.Background(), d, "127.0.0.1"); err != nil {
			t.Fatal(err)
		}
	}
	return frontdoor.Config{AppName: g.svc.AppName, Domains: domains, CA: g.ca.Directory(), Email: "ops@slipway.test",
		Service: g.svc, Wait: 2 * time.Minute}
}

func (g *rig) provision(t *testing.T, c frontdoor.Config) (int, string) {
	t.Helper()
	var out bytes.Buffer
	n, err := frontdoor.Provision(context.Background(), g.r, c, &out)
	if err != nil {
		t.Fatalf("provision: %v\n%s\ncaddy:\n%s", err, out.String(), g.root(t, "journalctl -u caddy -n 30 --no-pager -o cat"))
	}
	return n, out.String()
}

func (g *rig) root(t *testing.T, cmd string) string {
	t.Helper()
	out, err := remotetest.RootShell(context.Background(), g.r, cmd, nil)
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	return strings.TrimSpace(string(out))
}

// start hands the socket over to release (its instance starts beside the
// live one, which then stops), as deploy does.
func (g *rig) start(t *testing.T, release string) {
	t.Helper()
	h, err := service.Handover(context.Background(), g.r, g.svc, service.HandoverRequest{Release: release, ReadyTimeout: 2 * time.Minute})
	if err != nil || h.Outcome != "ok" {
		t.Fatalf("handover to %s: %v %+v", release, err, h)
	}
}

// current is the current release's id.
func (g *rig) current(t *testing.T) string {
	t.Helper()
	return strings.TrimPrefix(g.root(t, "readlink "+g.svc.CurrentLink()), "releases/")
}

// install builds the app stamped version and installs it as release id.
func (g *rig) install(t *testing.T, id, version string) {
	t.Helper()
	g.app.Upload(t, id, apptest.Build(t, version, "c0ffee02"))
}

// transport is acmetest.Transport from clientAddr.
func transport(pool *x509.CertPool) *http.Transport { return acmetest.Transport(pool, clientAddr) }

func (g *rig) client() *http.Client {
	return &http.Client{Transport: transport(g.pool), Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// refusedLogin tries a wrong password through the real login form at base
// with c's transport (a cookie jar of its own), sending forged as
// X-Forwarded-For, and returns the app's log line that counted it. (A post
// that is no form is refused before the database and logged at debug
// level only: a flood of them must not flood the journal.)
func (g *rig) refusedLogin(t *testing.T, c *http.Client, base, forged string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, Timeout: c.Timeout, Transport: forge{c.Transport, forged}}
	if ok, page, err := admintest.TryLogin(b, base, "nobody@example.com", "not the password at all"); err != nil || ok {
		t.Fatalf("a wrong password at %s: logged in %v, %v\n%s", base, ok, err, page)
	}
	return g.root(t, "journalctl -u "+g.svc.InstancePattern()+" --no-pager -o cat -n 50 | grep 'admin login refused' | tail -n 1")
}

// forge sends xff as X-Forwarded-For on every request.
type forge struct {
	next http.RoundTripper
	xff  string
}

func (f forge) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.xff)
	return f.next.RoundTrip(r)
}

// served is the certificate Caddy presents for domain.
func (g *rig) served(t *testing.T, domain string) *x509.Certificate {
	t.Helper()
	c, err := g.tryServed(domain)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tryServed is served, the error returned.
func (g *rig) tryServed(domain string) (*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", "127.0.0.1:443", &tls.Config{ServerName: domain, RootCAs: g.pool})
	if err != nil {
		return nil, fmt.Errorf("TLS to %s: %w", domain, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// plainFrom is an HTTP client whose connections come from the local
// address from.
func plainFrom(from string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// breakAccount leaves Caddy's account for c's CA as Caddy 2.6's race does
// (see frontdoor.AccountFiles): the key of another account registered with
// ca, beside the registration it had, which it returns.
func (g *rig) breakAccount(t *testing.T, c frontdoor.Config, ca *acmetest.Server) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ac := &acme.Client{Key: key, DirectoryURL: c.CA, HTTPClient: ca.HTTPClient()}
	if _, err := ac.Register(context.Background(), &acme.Account{Contact: []string{"mailto:" + c.Email}}, acme.AcceptTOS); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	_, keyFile, _ := c.AccountFiles()
	reg := g.root(t, "cat "+regFile(c))
	if out, err := remotetest.RootShell(context.Background(), g.r, "cat > "+keyFile, bytes.NewReader(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return reg
}

// regFile is the registration of Caddy's account for c's CA.
func regFile(c frontdoor.Config) string {
	_, _, reg := c.AccountFiles()
	return reg
}
