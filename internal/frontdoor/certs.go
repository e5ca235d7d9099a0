package frontdoor

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/helper/client"
	"github.com/slipway-dev/slipway/internal/remote"
)

// Certificate is what Caddy holds for one domain: the newest certificate in
// its storage, whichever CA issued it.
type Certificate struct {
	Domain    string    `json:"domain"`
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// Serial is the certificate's serial number (hex): a renewal changes it.
	Serial string `json:"serial"`
	// IssuerKey is the CA's folder in Caddy's storage, e.g.
	// acme-v02.api.letsencrypt.org-directory.
	IssuerKey string `json:"issuer_key"`
	// Err says why there is none, e.g. "none yet".
	Err string `json:"error,omitempty"`
}

func (c Certificate) String() string {
	if c.Err != "" {
		if c.Domain == "" {
			return c.Err
		}
		return c.Domain + ": " + c.Err
	}
	return fmt.Sprintf("%s: subject %s, issuer %s, expires %s", c.Domain, c.Subject, c.Issuer, c.NotAfter.UTC().Format(time.RFC3339))
}

// FromCA is true when ca (an ACME directory URL) issued the certificate.
func (c Certificate) FromCA(ca string) bool { return c.Err == "" && c.IssuerKey == issuerKey(ca) }

// Due is true once Caddy renews the certificate: with a third of its
// lifetime left (certmagic's default renewal window).
func (c Certificate) Due(now time.Time) bool {
	return c.Err == "" && now.After(c.NotAfter.Add(-c.NotAfter.Sub(c.NotBefore)/3))
}

// current is true when ca issued the certificate and it is not due for
// renewal: provision has nothing to wait for.
func (c Certificate) current(ca string, now time.Time) bool { return c.FromCA(ca) && !c.Due(now) }

// issuerKey is the folder certmagic (Caddy's ACME library) files a CA's
// certificates under: host and path of the directory URL, "/" and ":" as
// "-", lower case.
func issuerKey(ca string) string {
	u, err := url.Parse(ca)
	if err != nil {
		return ""
	}
	key := u.Host
	if p := strings.Trim(strings.NewReplacer("/", "-", `\`, "-").Replace(u.Path), "-"); p != "" {
		key += "-" + p
	}
	return strings.ToLower(strings.ReplaceAll(key, ":", "-"))
}

// Certificates reads each domain's certificate from Caddy's storage on the
// server. A domain without one gets Err set; only a failure to ask is an
// error.
func Certificates(ctx context.Context, r Runner, domains []string) ([]Certificate, error) {
	if len(domains) == 0 {
		return []Certificate{}, nil
	}
	st, err := readState(ctx, r, helper.CaddyStateArgs{Storage: CertStorage, Domains: domains})
	if err != nil {
		return nil, fmt.Errorf("read Caddy's certificates: %w", err)
	}
	return st.certs, nil
}

// serverState is what the caddy-state step read on the server.
type serverState struct {
	// time is the server's clock, seconds since the epoch.
	time float64
	// site is the app's site file, nil when there is none.
	site []byte
	// stored: Caddy has the ACME account asked about.
	stored bool
	// refused are Caddy's log lines since the account was stored with the
	// CA's words for a signature of another account.
	refused []byte
	certs   []Certificate
}

// readState runs caddy-state: one round trip for what provision and
// status read.
func readState(ctx context.Context, r Runner, a helper.CaddyStateArgs) (serverState, error) {
	var st serverState
	out, err := client.Call(ctx, r, "caddy-state", a)
	if err != nil {
		return st, fmt.Errorf("https: read the server's state: %w: %s", err, bytes.TrimSpace(out))
	}
	type found struct {
		domain, key string
		der         []byte
	}
	var certs []found
	for _, line := range strings.Split(string(out), "\n") {
		kind, rest, _ := strings.Cut(line, " ")
		switch kind {
		case "time":
			if st.time, err = strconv.ParseFloat(rest, 64); err != nil {
				return st, fmt.Errorf("https: server time: %q", rest)
			}
		case "site":
			if rest != "-" {
				if st.site, err = base64.StdEncoding.DecodeString(rest); err != nil {
					return st, fmt.Errorf("https: the site file: %w", err)
				}
			}
		case "account":
			st.stored = rest == "stored"
		case "refused":
			st.refused = append(st.refused, rest+"\n"...)
		case "cert":
			f := strings.Fields(rest)
			if len(f) != 3 {
				continue
			}
			b, err := base64.StdEncoding.DecodeString(f[2])
			if err != nil {
				continue
			}
			certs = append(certs, found{f[0], f[1], b})
		}
	}
	if len(a.Domains) == 0 {
		return st, nil
	}
	best := map[string]Certificate{}
	for _, p := range certs {
		domain, key, body := p.domain, p.key, p.der
		blk, _ := pem.Decode(body)
		if blk == nil {
			continue
		}
		x, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			continue
		}
		if old, ok := best[domain]; ok && !x.NotBefore.After(old.NotBefore) {
			continue
		}
		// Names come from the server: cleaned like every text status shows.
		best[domain] = Certificate{Domain: remote.Clean(domain), Subject: remote.Clean(subject(x)), Issuer: remote.Clean(x.Issuer.String()),
			NotBefore: x.NotBefore, NotAfter: x.NotAfter, Serial: x.SerialNumber.Text(16), IssuerKey: remote.Clean(path.Base(key))}
	}
	st.certs = make([]Certificate, len(a.Domains))
	for i, d := range a.Domains {
		ct, ok := best[d]
		if !ok {
			ct = Certificate{Domain: d, Err: "no certificate yet"}
		}
		st.certs[i] = ct
	}
	return st, nil
}

// subject is the certificate's subject, or its names when the subject is
// empty (Let's Encrypt may drop the common name).
func subject(x *x509.Certificate) string {
	if s := x.Subject.String(); s != "" {
		return s
	}
	return "DNS:" + strings.Join(x.DNSNames, ",DNS:")
}

// Status returns the certificate of each domain the app's site file on the
// server names ([] when provision never set up HTTPS): what `status` shows,
// without APP_DOMAIN set where it runs.
func Status(ctx context.Context, r Runner, appName string) ([]Certificate, error) {
	st, err := readState(ctx, r, helper.CaddyStateArgs{Site: Config{AppName: appName}.SitePath()})
	if err != nil {
		return nil, err
	}
	return Certificates(ctx, r, siteDomains(string(st.site)))
}
