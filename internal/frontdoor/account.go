package frontdoor

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/remote"
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
	out, err := r.RunRoot(ctx, fmt.Sprintf("if [ -s %s ] && [ -s %s ]; then echo yes; else echo no; fi", remote.Quote(key), remote.Quote(reg)), nil)
	if err != nil {
		return false, fmt.Errorf("https: look for Caddy's ACME account: %w: %s", err, bytes.TrimSpace(out))
	}
	return strings.TrimSpace(string(out)) == "yes", nil
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

// brokenAccountScript prints Caddy's log lines since the account's key
// ($1) was written that hold the CA's words $2 (accountMismatch).
const brokenAccountScript = `set -eu
[ -f "$1" ] || exit 0
journalctl -u caddy --since "@$(stat -c %Y "$1")" --no-pager -o cat | grep -iF -- "$2" | tail -n 20 || true
`

// accountBroken is true when Caddy's log shows, since the account of c.CA
// and c.Email was stored, an order or renewal of one of c's domains that
// the CA refused for the account's signature: a renewal it keeps retrying
// in vain, while the certificates still serve.
func accountBroken(ctx context.Context, r Runner, c Config) (bool, error) {
	_, key, _ := c.AccountFiles()
	out, err := r.RunRoot(ctx, "sh -c "+remote.Quote(brokenAccountScript)+" broken "+remote.QuoteAll([]string{key, accountMismatch}), nil)
	if err != nil {
		return false, fmt.Errorf("https: read Caddy's log: %w: %s", err, bytes.TrimSpace(out))
	}
	return refusedFor(out, c), nil
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
	return script(ctx, r, `set -eu
install -d -m 700 -o caddy -g caddy "$(dirname "$2")"
aside=$2.$(date +%s)
mv "$1" "$aside"
echo "changed: Caddy's ACME account moved aside to $aside: its key is not that of the account its registration names (Caddy 2.6's account race); the next order registers a new one"
`, []string{dir, aside}, nil, out)
}
