package frontdoor

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/service"
	"github.com/slipway-dev/slipway/internal/testenv"
	"github.com/slipway-dev/slipway/internal/web"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestWithoutAppDomainThereIsNoFrontDoor(t *testing.T) {
	c, err := FromEnv(env(nil), service.DefaultConfig())
	if err != nil || c.Enabled() {
		t.Fatalf("FromEnv without APP_DOMAIN: enabled=%v err=%v", c.Enabled(), err)
	}
}

func TestFromEnvReadsDomainsCAAndEmail(t *testing.T) {
	shop := service.DefaultConfig()
	shop.AppName = "shop"
	c, err := FromEnv(env(map[string]string{"APP_DOMAIN": " Example.com, www.example.com ", "ACME_EMAIL": "ops@example.com",
		"ACME_CA": "https://acme-staging-v02.api.letsencrypt.org/directory"}), shop)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Domains, " ") != "example.com www.example.com" || c.Email != "ops@example.com" || c.Upstream != "" || c.Service != shop {
		t.Errorf("got %+v", c)
	}
	if c.CA != "https://acme-staging-v02.api.letsencrypt.org/directory" || c.SitePath() != "/etc/caddy/Caddyfile.d/shop.caddy" {
		t.Errorf("got CA %s, site %s", c.CA, c.SitePath())
	}
	if d, _ := FromEnv(env(map[string]string{"APP_DOMAIN": "example.com"}), service.DefaultConfig()); d.CA != LetsEncrypt {
		t.Errorf("default CA %s", d.CA)
	}
}

func TestInvalidSettingsAreRefusedEachInOneLine(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"APP_DOMAIN=exa mple.com", `"exa mple.com" is not a valid host name`},
		{"APP_DOMAIN=*.example.com", "wildcard"},
		{"APP_DOMAIN=203.0.113.9", "IP address"},
		{"APP_DOMAIN=https://example.com", "scheme"},
		{"APP_DOMAIN=example.com:8443", "port"},
		{"APP_DOMAIN=localhost", "no dot"},
		{"APP_DOMAIN=-a.example.com", "not a valid host name"},
		{"APP_DOMAIN=example.123", "ends in a number"},
		{"APP_DOMAIN=a.com,a.com", "listed twice"},
		{"ACME_CA=http://ca.example/dir", "ACME_CA="},
		{"ACME_EMAIL=ops@example.com}", "ACME_EMAIL="},
		{"ACME_EMAIL=Ops <ops@example.com>", "ACME_EMAIL="},
		{"ACME_EMAIL=o`ps@example.com", "ACME_EMAIL="},
	} {
		m := map[string]string{"APP_DOMAIN": "example.com"}
		k, v, _ := strings.Cut(tc.env, "=")
		m[k] = v
		_, err := FromEnv(env(m), service.DefaultConfig())
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line with %q", tc.env, err, tc.want)
		}
	}
}

func TestTheSiteFileNamesItsDomainsAndProxiesToTheSocket(t *testing.T) {
	c := Config{AppName: "app", Domains: []string{"example.com", "www.example.com"}, CA: LetsEncrypt, Email: "ops@example.com", Service: service.DefaultConfig()}
	site := string(c.Site())
	for _, want := range []string{
		"example.com, www.example.com {", "dir " + LetsEncrypt, "email ops@example.com",
		`Strict-Transport-Security "max-age=31536000"`, "reverse_proxy unix//run/app/proxy.sock {",
	} {
		if !strings.Contains(site, want) {
			t.Errorf("site file lacks %q:\n%s", want, site)
		}
	}
	if !strings.Contains(strings.SplitN(site, "\n", 2)[0], Marker) {
		t.Errorf("first line without %q", Marker)
	}
	if got := siteDomains(site); strings.Join(got, " ") != "example.com www.example.com" {
		t.Errorf("domains read back: %q", got)
	}
	c.Email = ""
	if strings.Contains(string(c.Site()), "email") {
		t.Error("an email line without ACME_EMAIL")
	}
	// The instances get Caddy's socket; nothing makes them believe loopback.
	if d := string(c.DropIn()); !strings.Contains(d, "Sockets=app-proxy.socket") || strings.Contains(d, "TRUSTED_PROXIES") {
		t.Errorf("drop-in:\n%s", d)
	}
	u := string(c.ProxySocketUnitFile())
	for _, want := range []string{"ListenStream=/run/app/proxy.sock", "SocketGroup=caddy", "SocketMode=0660", "FileDescriptorName=" + ProxyFDName, "Service=app-proxy-hold.service"} {
		if !strings.Contains(u, want) {
			t.Errorf("proxy socket unit lacks %q:\n%s", want, u)
		}
	}
}

func TestIssuerKeyIsCaddysStorageFolder(t *testing.T) {
	for ca, want := range map[string]string{
		LetsEncrypt:                        "acme-v02.api.letsencrypt.org-directory",
		"https://127.0.0.1:14000/dir":      "127.0.0.1-14000-dir",
		"https://CA.example/acme/v2/dir/":  "ca.example-acme-v2-dir",
		"https://acme.zerossl.com/v2/DV90": "acme.zerossl.com-v2-dv90",
	} {
		if got := issuerKey(ca); got != want {
			t.Errorf("issuerKey(%s) = %s, want %s", ca, got, want)
		}
	}
}

// Caddy's log lines as Caddy 2.6.2 writes them (trimmed), and Let's
// Encrypt's problems as its documentation lists them.
func TestFaultsAreNamed(t *testing.T) {
	log := `{"level":"info","msg":"obtaining certificate","identifier":"a.example"}
{"level":"error","logger":"http.acme_client","msg":"challenge failed","identifier":"a.example","challenge_type":"http-01","problem_type":"urn:ietf:params:acme:error:connection","error":"Timeout during connect (likely firewall problem)"}
{"level":"error","logger":"tls.obtain","msg":"could not get certificate from issuer","identifier":"b.example","error":"HTTP 400 urn:ietf:params:acme:error:rejectedIdentifier - forbidden"}
{"level":"error","logger":"tls.obtain","msg":"could not get certificate from issuer","identifier":"a.example","error":"solving challenges: no solvers available for remaining challenges"}`
	named := func(missing string) string {
		d, why := faultIn([]byte(log), []string{missing}, 0)
		if d == "" {
			return ""
		}
		return Classify(d, why)
	}
	if got := named("a.example"); !strings.HasPrefix(got, "ports 80/443 of a.example are not reachable") {
		t.Errorf("a.example: %s", got)
	}
	if got := named("b.example"); !strings.HasPrefix(got, "the CA refused a certificate for b.example: HTTP 400 urn:ietf:params:acme:error:rejectedIdentifier") {
		t.Errorf("b.example: %s", got)
	}
	if got := named("c.example"); got != "" {
		t.Errorf("c.example has no fault in the log: %s", got)
	}
	for why, want := range map[string]string{
		"urn:ietf:params:acme:error:dns DNS problem: NXDOMAIN looking up A for a.example":                                  "does not resolve to this server",
		"urn:ietf:params:acme:error:unauthorized Invalid response from http://a.example/.well-known/acme-challenge/x: 404": "reaches another server",
		"urn:ietf:params:acme:error:connection Connection refused":                                                         "not reachable",
		"urn:ietf:params:acme:error:rateLimited too many certificates already issued":                                      "the CA refused",
	} {
		if got := Classify("a.example", why); !strings.Contains(got, want) || strings.Contains(got, "\n") {
			t.Errorf("%s: %s, want one line with %q", why, got, want)
		}
	}
}

// Where certmagic v0.17.2 (Caddy 2.6.2) keeps the account of a CA and an
// email, as seen in the sandbox's /var/lib/caddy.
func TestAccountFiles(t *testing.T) {
	for _, tc := range []struct{ ca, email, key string }{
		{"https://127.0.0.1:33167/dir", "ops@slipway.test", "127.0.0.1-33167-dir/users/ops@slipway.test/ops.key"},
		{LetsEncrypt, "Ada+Ops@Example.com", "acme-v02.api.letsencrypt.org-directory/users/ada_plus_ops@example.com/ada_plus_ops.key"},
		{LetsEncrypt, "", "acme-v02.api.letsencrypt.org-directory/users/default/default.key"},
	} {
		dir, key, reg := Config{CA: tc.ca, Email: tc.email}.AccountFiles()
		if want := AccountStorage + "/" + tc.key; key != want || reg != strings.TrimSuffix(want, ".key")+".json" || !strings.HasPrefix(key, dir+"/") {
			t.Errorf("%s %q: %s %s %s, want %s", tc.ca, tc.email, dir, key, reg, want)
		}
	}
}

// Without a stored account, Caddy gets one domain without a certificate
// from the CA alone first, with those it has; otherwise all at once.
func TestFirstAlone(t *testing.T) {
	const ca = "https://ca.example/dir"
	c := Config{CA: ca, Domains: []string{"a.example", "b.example", "c.example", "d.example"}}
	now := time.Now()
	have := func(d string) Certificate {
		return Certificate{Domain: d, IssuerKey: issuerKey(ca), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(89 * 24 * time.Hour)}
	}
	due := func(d string) Certificate {
		return Certificate{Domain: d, IssuerKey: issuerKey(ca), NotBefore: now.Add(-61 * 24 * time.Hour), NotAfter: now.Add(29 * 24 * time.Hour)}
	}
	other := func(d string) Certificate {
		return Certificate{Domain: d, IssuerKey: "other-ca", NotBefore: now.Add(-time.Hour), NotAfter: now.Add(89 * 24 * time.Hour)}
	}
	none := func(d string) Certificate { return Certificate{Domain: d, Err: "no certificate yet"} }
	for _, tc := range []struct {
		certs  []Certificate
		stored bool
		alone  string // "": one step
		want   []string
		asIs   []string
	}{
		{[]Certificate{none("a.example"), none("b.example"), none("c.example"), none("d.example")}, false, "a.example", []string{"a.example"}, nil},
		{[]Certificate{have("a.example"), other("b.example"), none("c.example"), have("d.example")}, false, "b.example", []string{"a.example", "d.example", "b.example"}, nil},
		{[]Certificate{have("a.example"), have("b.example"), none("c.example"), have("d.example")}, false, "", nil, nil},
		{[]Certificate{due("a.example"), have("b.example"), due("c.example"), have("d.example")}, false, "a.example", []string{"b.example", "d.example", "a.example"}, []string{"c.example"}},
		{[]Certificate{none("a.example"), none("b.example"), none("c.example"), none("d.example")}, true, "", nil, nil},
	} {
		first, alone := firstAlone(c, tc.certs, tc.stored, now)
		if alone != tc.alone || alone != "" && !slices.Equal(first.Domains, tc.want) {
			t.Errorf("%v stored=%v: %q alone in %v, want %q in %v", tc.certs, tc.stored, alone, first.Domains, tc.alone, tc.want)
		}
		var asIs []string
		for _, ct := range first.asIs {
			asIs = append(asIs, ct.Domain)
			crt := CertStorage + "/" + ct.IssuerKey + "/" + ct.Domain + "/" + ct.Domain
			if site := string(first.Site()); !strings.Contains(site, "\n"+ct.Domain+" {\n\ttls "+crt+".crt "+crt+".key\n") {
				t.Errorf("%s is not served with its certificate as it is:\n%s", ct.Domain, site)
			}
		}
		if !slices.Equal(asIs, tc.asIs) {
			t.Errorf("%v: served as they are %v, want %v", tc.certs, asIs, tc.asIs)
		}
	}
}

// The line Caddy 2.6.2 logged in CI when its stored account's key and
// registration were of two accounts.
func TestAccountMismatchIsRecognised(t *testing.T) {
	log := `{"level":"error","ts":1764680000.5,"logger":"tls.obtain","msg":"could not get certificate from issuer","identifier":"echo.slipway.test","issuer":"127.0.0.1:41231-dir","error":"HTTP 400 urn:ietf:params:acme:error:malformed - JWS verification error: square/go-jose: error in cryptographic primitive"}`
	d, why := faultIn([]byte(log), []string{"echo.slipway.test"}, 1764680000.4)
	if d != "echo.slipway.test" || !isAccountMismatch(why) {
		t.Errorf("faultIn: %q %q, want the account mismatch", d, why)
	}
	// Logged before the account was replaced, in the same second.
	if d, _ := faultIn([]byte(log), []string{"echo.slipway.test"}, 1764680000.6); d != "" {
		t.Errorf("faultIn read a line older than asked: %s", d)
	}
	c := Config{CA: "https://127.0.0.1:41231/dir", Domains: []string{"app.slipway.test", "echo.slipway.test"}}
	if !refusedFor([]byte(log), c) {
		t.Error("refusedFor missed the refusal")
	}
	c.CA = "https://127.0.0.1:41232/dir"
	if refusedFor([]byte(log), c) {
		t.Error("refusedFor took another CA's refusal")
	}
	if isAccountMismatch("urn:ietf:params:acme:error:rejectedIdentifier - forbidden") {
		t.Error("a refused identifier taken for an account mismatch")
	}
}

func TestTheProxySocketsNameIsTheOneTheAppLooksFor(t *testing.T) {
	if ProxyFDName != web.ProxyFDName {
		t.Errorf("the socket unit names the descriptor %q, web.Listen looks for %q", ProxyFDName, web.ProxyFDName)
	}
}

// TestTheProxyUnitsVerifyAndTheHolderIsSandboxed checks the units provision
// installs for the proxy socket with systemd's own tools: verify prints
// nothing, and the holder (it runs /bin/true) has an exposure of at most 1.
func TestTheProxyUnitsVerifyAndTheHolderIsSandboxed(t *testing.T) {
	_, err := exec.LookPath("systemd-analyze")
	testenv.Need(t, err == nil, "systemd-analyze (apt-get install systemd)")
	c := Config{AppName: "app", Service: service.DefaultConfig()}
	dir := t.TempDir()
	for name, b := range map[string][]byte{c.ProxySocketUnit(): c.ProxySocketUnitFile(), c.ProxyHolderUnit(): c.ProxyHolderUnitFile()} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	holder := filepath.Join(dir, c.ProxyHolderUnit())
	// verify exits 0 on warnings: its output is the verdict. The socket's
	// SocketGroup=caddy needs no such group here.
	out, err := exec.Command("systemd-analyze", "verify", filepath.Join(dir, c.ProxySocketUnit()), holder).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: err %v, output:\n%s", err, out)
	}
	out, err = exec.Command("systemd-analyze", "security", "--offline=yes", holder).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	if v, _ := strconv.ParseFloat(string(m[1]), 64); v > 1.0 {
		t.Errorf("exposure of %s: %.1f, want at most 1.0", c.ProxyHolderUnit(), v)
	}
}
