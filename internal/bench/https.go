package bench

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/slipway-dev/slipway/internal/frontdoor"
	"github.com/slipway-dev/slipway/internal/frontdoor/acmetest"
	"github.com/slipway-dev/slipway/internal/remote"
)

// ScenarioSlipwayHTTPS is ScenarioSlipway with the load through Caddy, the
// front door provision sets up with APP_DOMAIN: HTTPS with a certificate
// from Pebble (an ACME CA on this machine), proxied to the socket.
const ScenarioSlipwayHTTPS = "Slipway deploy, through HTTPS (Caddy)"

// httpsDomain is the row's domain: it resolves only in Pebble's DNS, and
// in the load's dialer.
const httpsDomain = "bench.slipway.test"

// startSlipwayHTTPS starts Pebble, provisions the front door for
// httpsDomain and loads the app through it; Stop removes the site again.
func startSlipwayHTTPS(ctx context.Context, r *Rig, o DeployOptions) (_ Flow, err error) {
	f, err := startSlipway(ctx, r, o)
	if err != nil {
		return f, err
	}
	ca, err := acmetest.Start(ctx, acmetest.Options{})
	if err != nil {
		return f, err
	}
	defer func() {
		if err != nil {
			ca.Close()
		}
	}()
	if err := ca.TrustListener(ctx, r.Client); err != nil {
		return f, err
	}
	if err := ca.AddA(ctx, httpsDomain, "127.0.0.1"); err != nil {
		return f, err
	}
	fd := frontdoor.Config{AppName: r.Service.AppName, Domains: []string{httpsDomain}, CA: ca.Directory(),
		Service: r.Service, Wait: 2 * time.Minute}
	// A Caddy already running (a rig's second run) read the system's roots
	// before Pebble's listener was trusted.
	if err := r.RunRoot(ctx, "systemctl try-restart caddy"); err != nil {
		return f, err
	}
	if _, err := frontdoor.Provision(ctx, r.Client, fd, io.Discard); err != nil {
		return f, err
	}
	pool, _, err := ca.Roots(ctx)
	if err != nil {
		return f, err
	}
	f.URL = "https://" + httpsDomain
	f.Transport = acmetest.Transport(pool, "")
	f.Stop = func(ctx context.Context) error {
		defer ca.Close()
		f.Transport.CloseIdleConnections()
		return errors.Join(
			r.RunRoot(ctx, "rm -f %s %s", remote.Quote(fd.SitePath()), remote.Quote(fd.DropInPath())),
			r.RunRoot(ctx, "systemctl daemon-reload"),
			r.RunRoot(ctx, "systemctl reload caddy"),
			acmetest.Untrust(ctx, r.Client))
	}
	r.Printf("bench: %s: certificate for %s from %s", ScenarioSlipwayHTTPS, httpsDomain, ca.Directory())
	return f, nil
}
