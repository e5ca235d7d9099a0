package frontdoor

import (
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestWithoutAppDomainThereIsNoFrontDoor(t *testing.T) {
	c, err := FromEnv(env(nil), "app", "127.0.0.1:8080")
	if err != nil || c.Enabled() {
		t.Fatalf("FromEnv without APP_DOMAIN: enabled=%v err=%v", c.Enabled(), err)
	}
}

func TestFromEnvReadsDomainsCAAndEmail(t *testing.T) {
	c, err := FromEnv(env(map[string]string{"APP_DOMAIN": " Example.com, www.example.com ", "ACME_EMAIL": "ops@example.com",
		"ACME_CA": "https://acme-staging-v02.api.letsencrypt.org/directory"}), "shop", "0.0.0.0:9000")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Domains, " ") != "example.com www.example.com" || c.Email != "ops@example.com" || c.Upstream != "127.0.0.1:9000" {
		t.Errorf("got %+v", c)
	}
	if c.CA != "https://acme-staging-v02.api.letsencrypt.org/directory" || c.SitePath() != "/etc/caddy/Caddyfile.d/shop.caddy" {
		t.Errorf("got CA %s, site %s", c.CA, c.SitePath())
	}
	if d, _ := FromEnv(env(map[string]string{"APP_DOMAIN": "example.com"}), "app", "127.0.0.1:8080"); d.CA != LetsEncrypt {
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
		_, err := FromEnv(env(m), "app", "127.0.0.1:8080")
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line with %q", tc.env, err, tc.want)
		}
	}
}

func TestTheSiteFileNamesItsDomainsAndProxiesToTheSocket(t *testing.T) {
	c := Config{AppName: "app", Domains: []string{"example.com", "www.example.com"}, CA: LetsEncrypt, Email: "ops@example.com", Upstream: "127.0.0.1:8080"}
	site := string(c.Site())
	for _, want := range []string{
		"example.com, www.example.com {", "dir " + LetsEncrypt, "email ops@example.com",
		`Strict-Transport-Security "max-age=31536000"`, "reverse_proxy 127.0.0.1:8080 {",
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
	if !strings.Contains(string(c.DropIn()), "Environment=TRUSTED_PROXIES=127.0.0.1/32,::1/128") {
		t.Errorf("drop-in:\n%s", c.DropIn())
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
	if got := faultIn([]byte(log), []string{"a.example"}); !strings.HasPrefix(got, "ports 80/443 of a.example are not reachable") {
		t.Errorf("a.example: %s", got)
	}
	if got := faultIn([]byte(log), []string{"b.example"}); !strings.HasPrefix(got, "the CA refused a certificate for b.example: HTTP 400 urn:ietf:params:acme:error:rejectedIdentifier") {
		t.Errorf("b.example: %s", got)
	}
	if got := faultIn([]byte(log), []string{"c.example"}); got != "" {
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
