package deploy

import (
	"context"
	"fmt"
	"strings"

	"github.com/slipway-dev/slipway/internal/frontdoor"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/service"
	"github.com/slipway-dev/slipway/internal/slipversion"
)

// ProvisionOptions are provision's settings beyond Options.
type ProvisionOptions struct {
	// Service says whether PostgreSQL is installed (PROVISION_DATABASE).
	Service service.ProvisionOptions
	// FrontDoor puts Caddy in front of the app when it names domains
	// (APP_DOMAIN, ACME_CA, ACME_EMAIL).
	FrontDoor frontdoor.Config
}

// ProvisionFromEnv reads PROVISION_DATABASE, the server basics' settings
// (service.BasicsFromEnv) and the front door's (frontdoor.FromEnv) for the
// service svc.
func ProvisionFromEnv(getenv func(string) string, svc service.Config) (ProvisionOptions, error) {
	var po ProvisionOptions
	var err error
	if po.FrontDoor, err = frontdoor.FromEnv(getenv, svc); err != nil {
		return po, err
	}
	if po.Service.Basics, err = service.BasicsFromEnv(getenv); err != nil {
		return po, err
	}
	switch v := getenv("PROVISION_DATABASE"); v {
	case "", "local":
	case "external":
		po.Service.ExternalDatabase = true
	default:
		return po, fmt.Errorf("PROVISION_DATABASE=%q: use external (the database is elsewhere: set its URL with env:set) or leave it unset", v)
	}
	return po, nil
}

// Provision does the one-time set-up of every host in o.Hosts, one at a
// time: service.ProvisionWith, the front door when po names domains, and
// the layout's stamp. Every host is checked before the first changes
// (checkHosts): a typo in the second alias, or a second server that is
// down or not ours to take, must not leave the first half provisioned.
func Provision(ctx context.Context, o Options, po ProvisionOptions) error {
	o = o.withDefaults()
	if err := o.Service.Validate(); err != nil {
		return err
	}
	servers, err := checkHosts(ctx, o)
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()
	for i, s := range servers {
		o.printf("provision %s", s.Alias)
		if err := provisionHost(ctx, o, po, s); err != nil {
			err = fmt.Errorf("provision %s: %w", s.Alias, err)
			if rest := o.Hosts[i+1:]; len(rest) > 0 {
				err = fmt.Errorf("%w\nstopped: %s not provisioned", err, strings.Join(rest, ", "))
			}
			return err
		}
	}
	return nil
}

// checkHosts connects to every host and runs provision's read-only checks
// there, changing nothing anywhere: every alias resolves (all of them
// before the first login), the server answers with a known host key, its
// layout is one this Slipway knows (CheckLayout) and the names provision
// would take are free or Slipway's (service.CheckProvision, which
// ProvisionWith runs again before it changes anything). It returns the
// connections, open, in o.Hosts' order: provision reuses them.
func checkHosts(ctx context.Context, o Options) ([]*Server, error) {
	var servers []*Server
	fail := func(host string, err error) ([]*Server, error) {
		for _, s := range servers {
			s.Close()
		}
		err = fmt.Errorf("provision %s: %w", host, err)
		if len(o.Hosts) > 1 {
			err = fmt.Errorf("%w\nnothing changed on any host: provision checks every host before it changes one", err)
		}
		return nil, err
	}
	for _, host := range o.Hosts {
		if _, err := remote.Resolve(ctx, host, remote.ConfigSource{Path: o.SSHConfig, Getenv: o.Getenv}); err != nil {
			return fail(host, err)
		}
	}
	for _, host := range o.Hosts {
		s, err := connect(ctx, o, host)
		if err != nil {
			return fail(host, err)
		}
		servers = append(servers, s)
		// One host: ProvisionWith runs the same guard before its first
		// change, so checking here would only cost a round trip.
		if len(o.Hosts) == 1 {
			break
		}
		if err := service.CheckProvision(ctx, s.c, o.Service); err != nil {
			return fail(host, err)
		}
	}
	return servers, nil
}

// provisionHost provisions one checked server.
func provisionHost(ctx context.Context, o Options, po ProvisionOptions, s *Server) error {
	if o.Notify != nil {
		po.Service.NotifyURL = o.Notify.URL()
	}
	if _, err := service.ProvisionWith(ctx, s.c, o.Service, po.Service, o.Stdout); err != nil {
		return err
	}
	if po.FrontDoor.Enabled() {
		if _, err := frontdoor.Provision(ctx, s.c, po.FrontDoor, o.Stdout); err != nil {
			return err
		}
	}
	changed, err := StampLayout(ctx, s.c, o.Service)
	if changed {
		o.printf("changed: %s/%s stamped %s (app %s)", o.Service.DeployPath, slipversion.File, slipversion.Current(), o.Service.AppName)
	}
	return err
}
