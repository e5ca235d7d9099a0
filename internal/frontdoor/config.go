package frontdoor

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/service"
)

// LetsEncrypt is the ACME directory used unless ACME_CA names another.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// Config is the front door of one app. The zero Domains means no front
// door: provision then leaves Caddy alone.
type Config struct {
	// AppName names the site file (<app>.caddy) and the drop-in of the
	// app's instances (<app>@.service.d). APP_NAME.
	AppName string
	// Domains are served with certificates of their own. APP_DOMAIN,
	// comma-separated.
	Domains []string
	// CA is the ACME directory URL. ACME_CA.
	CA string
	// Email is given to the CA for expiry notices; "" registers without
	// one. ACME_EMAIL.
	Email string
	// Upstream is where Caddy proxies to: "" for the app's proxy socket
	// (ProxySocket), which provision sets up; host:port only for a server
	// that is not a Slipway app (the tests' echo server), which then gets
	// no proxy socket and no drop-in.
	Upstream string
	// Service is the app's service: the proxy socket hands its connections
	// to the service's instances, and provision restarts the live one (a
	// handover) when it started before the socket existed.
	Service service.Config
	// Wait bounds how long provision waits for the certificates (0:
	// DefaultWait).
	Wait time.Duration

	// asIs are domains served with the certificate they have, which Caddy
	// does not renew: in the first of provision's two steps (firstAlone).
	asIs []Certificate
}

// DefaultWait is how long provision waits for certificates by default: an
// issuance takes seconds, a failure shows in Caddy's log within one ACME
// round, but Let's Encrypt may queue a validation for a while.
const DefaultWait = 3 * time.Minute

// FromEnv reads APP_DOMAIN, ACME_CA and ACME_EMAIL for the app's service
// svc. Every bad value is reported at once, before anything changes on a
// server.
func FromEnv(getenv func(string) string, svc service.Config) (Config, error) {
	c := Config{AppName: svc.AppName, Service: svc, CA: LetsEncrypt, Email: strings.TrimSpace(getenv("ACME_EMAIL")), Wait: DefaultWait}
	if v := strings.TrimSpace(getenv("ACME_CA")); v != "" {
		c.CA = v
	}
	for _, d := range strings.Split(getenv("APP_DOMAIN"), ",") {
		if d = strings.ToLower(strings.TrimSpace(d)); d != "" {
			c.Domains = append(c.Domains, d)
		}
	}
	if !c.Enabled() {
		return c, nil
	}
	return c, c.Validate()
}

// Enabled is true when there is a domain to serve.
func (c Config) Enabled() bool { return len(c.Domains) > 0 }

// labelRE is one DNS label of a host name (LDH: letters, digits, hyphens,
// not at either end); internationalised names come as punycode (xn--).
var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// emailRE keeps ACME_EMAIL to what needs no quoting in a Caddyfile
// (no quote characters, no # or braces).
var emailRE = regexp.MustCompile(`^[A-Za-z0-9.!$%&*+/=?^_|~-]+@[A-Za-z0-9.-]+$`)

// Validate reports every setting that would make a broken site file.
func (c Config) Validate() error {
	var errs []error
	for i, d := range c.Domains {
		if err := checkDomain(d); err != nil {
			errs = append(errs, err)
		} else if slices.Contains(c.Domains[:i], d) {
			errs = append(errs, fmt.Errorf("APP_DOMAIN: %s is listed twice", d))
		}
	}
	if u, err := url.Parse(c.CA); err != nil || u.Scheme != "https" || u.Host == "" || strings.ContainsAny(c.CA, " \t{}\"'") {
		errs = append(errs, fmt.Errorf("ACME_CA=%q: use the https:// URL of an ACME directory, e.g. %s (Let's Encrypt's staging: https://acme-staging-v02.api.letsencrypt.org/directory)", c.CA, LetsEncrypt))
	}
	if c.Email != "" {
		if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email || !emailRE.MatchString(c.Email) {
			errs = append(errs, fmt.Errorf("ACME_EMAIL=%q: use a plain address such as you@example.com, or leave it unset", c.Email))
		}
	}
	if c.Upstream == "" {
		if c.Service.AppName != c.AppName {
			errs = append(errs, fmt.Errorf("front door of %q with the service of %q: give it its own service", c.AppName, c.Service.AppName))
		} else if err := c.Service.Validate(); err != nil {
			errs = append(errs, err)
		}
	} else if host, port, err := net.SplitHostPort(c.Upstream); err != nil || net.ParseIP(host) == nil {
		errs = append(errs, fmt.Errorf("upstream %q: use ip:port for Caddy to proxy to", c.Upstream))
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		errs = append(errs, fmt.Errorf("upstream %q: use ip:port for Caddy to proxy to", c.Upstream))
	}
	if !nameRE.MatchString(c.AppName) {
		errs = append(errs, fmt.Errorf("APP_NAME=%q: use lower-case letters, digits, - and _", c.AppName))
	} else if c.AppName == "caddy" {
		// /run/caddy is Caddy's own (0700): the proxy socket can't be there.
		errs = append(errs, errors.New(`APP_NAME="caddy" with APP_DOMAIN: /run/caddy is Caddy's own, name the app otherwise`))
	}
	return errors.Join(errs...)
}

// nameRE is service's rule for APP_NAME: the site file and drop-in are
// named after it.
var nameRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,30}$`)

// checkDomain accepts a host name a public CA can issue for by HTTP or
// TLS-ALPN validation: no IP address, no wildcard (that needs DNS
// validation), no port or scheme.
func checkDomain(d string) error {
	bad := func(why string) error {
		return fmt.Errorf("APP_DOMAIN: %q %s: use host names such as example.com,www.example.com", d, why)
	}
	switch {
	case strings.Contains(d, "://"):
		return bad("has a scheme")
	case strings.HasPrefix(d, "*."):
		return bad("is a wildcard (needs DNS validation, which Slipway does not set up)")
	case net.ParseIP(strings.Trim(d, "[]")) != nil:
		return bad("is an IP address (public CAs issue for names)")
	case strings.ContainsAny(d, ":/"):
		return bad("has a port or a path")
	case len(d) > 253:
		return bad("is longer than 253 characters")
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return bad("has no dot (a name in a public zone, e.g. example.com)")
	}
	for _, l := range labels {
		if !labelRE.MatchString(l) {
			return bad("is not a valid host name (letters, digits and - between dots)")
		}
	}
	if _, err := strconv.Atoi(labels[len(labels)-1]); err == nil {
		return bad("ends in a number")
	}
	return nil
}
