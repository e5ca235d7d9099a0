package frontdoor

import (
	"context"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/helper"
)

// Caddy 2.6 (certmagic v0.17) registers an ACME account on the first order
// that finds none stored for its CA and email, without a lock: a site whose
// domains are ordered at once registers one account per domain, each
// saving its key and its registration (the account's URL) in two writes.
// Interleaved, they leave the key of one account beside the URL of
// another, and every later order or renewal fails with the CA's "JWS
// verification error". certmagic v0.21.4 locks the registration
// (caddyserver/certmagic#293); Debian 12 ships Caddy 2.6.2. So provision
// orders one domain alone while no account is stored, and replaces an
// account it finds in that state.

// AccountFiles are the key and the registration of the account Caddy uses
// for c.CA and c.Email, as certmagic v0.17 names them:
// acme/<issuer key>/users/<email, or "default">/<part before @>.key|.json.
func (c Config) AccountFiles() (dir, key, reg string) {
	email := strings.ToLower(c.Email)
	if email == "" {
		email = "default"
	}
	user := email
	if at := strings.Index(email, "@"); at > 0 {
		user = email[:at]
	} else if at == 0 {
		user = email[1:]
	}
	dir = path.Join(AccountStorage, safeKey(issuerKey(c.CA)), "users", safeKey(email))
	return dir, path.Join(dir, safeKey(user)+".key"), path.Join(dir, safeKey(user)+".json")
}

// safeKey is certmagic's KeyBuilder.Safe: one component of a storage key.
func safeKey(s string) string {
	s = strings.TrimSpace(strings.ToLower(s))
	s = strings.NewReplacer(" ", "_", "+", "_plus_", "*", "wildcard_", ":", "-", "..", "").Replace(s)
	return unsafeKeyRE.ReplaceAllLiteralString(s, "")
}

var unsafeKeyRE = regexp.MustCompile(`[^\w@.-]`)

// accountStored is true when Caddy has an account for c.CA and c.Email:
// its next orders, however many at once, all load that one.
func accountStored(ctx context.Context, r Runner, c Config) (bool, error) {
	_, key, reg := c.AccountFiles()
	st, err := readState(ctx, r, helper.CaddyStateArgs{AccountKey: key, AccountReg: reg})
	if err != nil {
		return false, fmt.Errorf("https: look for Caddy's ACME account: %w", err)
	}
	return st.stored, nil
}

// firstAlone is the site to serve before c when Caddy would otherwise
// order several domains at once without a stored account: c's domains that
// have a current certificate from c.CA, and the first one that has none (or
// one due for renewal), alone; the others that have a valid certificate
// (due, or from another CA) keep serving it, unmanaged, so that a renewal
// in two steps fails no request. alone is "" when c can go in one step.
func firstAlone(c Config, certs []Certificate, stored bool, now time.Time) (first Config, alone string) {
	if stored {
		return c, ""
	}
	var need []Certificate
	first = c
	first.Domains = nil
	for _, ct := range certs {
		if ct.current(c.CA, now) {
			first.Domains = append(first.Domains, ct.Domain)
		} else {
			need = append(need, ct)
		}
	}
	if len(need) < 2 {
		return c, ""
	}
	first.Domains = append(first.Domains, need[0].Domain)
	for _, ct := range need[1:] {
		if ct.Err == "" && ct.NotAfter.After(now) {
			first.asIs = append(first.asIs, ct)
		}
	}
	return first, need[0].Domain
}

// accountMismatch is the CA's words (Pebble's, Boulder's) for a request not
// signed by the key of the account it names.
const accountMismatch = "JWS verification error"

// isAccountMismatch is true when the CA's reason is accountMismatch.
func isAccountMismatch(why string) bool {
	return strings.Contains(strings.ToLower(why), strings.ToLower(accountMismatch))
}

// accountError is an order the CA refused because Caddy's stored account
// does not match its key.
type accountError struct{ Domain, Why string }

func (e *accountError) Error() string {
	return fmt.Sprintf("https: Caddy's ACME account does not match its key, so the CA refused the order for %s (the CA said: %s)", e.Domain, oneLine(e.Why))
}

// accountBroken is true when Caddy's log shows, since the account of c.CA
// and c.Email was stored, an order or renewal of one of c's domains that
// the CA refused for the account's signature: a renewal it keeps retrying
// in vain, while the certificates still serve.
func accountBroken(ctx context.Context, r Runner, c Config) (bool, error) {
	_, key, reg := c.AccountFiles()
	st, err := readState(ctx, r, helper.CaddyStateArgs{AccountKey: key, AccountReg: reg, Mismatch: accountMismatch})
	if err != nil {
		return false, fmt.Errorf("https: read Caddy's log: %w", err)
	}
	return refusedFor(st.refused, c), nil
}

// refusedFor is true when log (Caddy's JSON lines) has an order or a
// renewal of one of c's domains from c.CA refused for the account's
// signature.
func refusedFor(log []byte, c Config) bool {
	for l := range errorLines(log, c.Domains, 0) {
		if l.Msg == gaveUp && safeKey(l.Issuer) == safeKey(issuerKey(c.CA)) && isAccountMismatch(l.Error) {
			return true
		}
	}
	return false
}

// AccountsAside is where provision moves an account Caddy must no longer
// use: outside Caddy's storage, kept (the account lives on at the CA, and
// its key is what deactivates it).
const AccountsAside = "/var/lib/caddy/slipway-replaced-accounts"

// replaceAccount moves the account folder of c.CA and c.Email aside; the
// next order registers a new one.
func replaceAccount(ctx context.Context, r Runner, c Config, out io.Writer) (int, error) {
	dir, _, _ := c.AccountFiles()
	aside := path.Join(AccountsAside, safeKey(issuerKey(c.CA)), path.Base(dir))
	return step(ctx, r, "caddy-account-aside", helper.CaddyAsideArgs{Dir: dir, Aside: aside}, out)
}
