package frontdoor_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/frontdoor"
	"github.com/slipway-dev/slipway/internal/frontdoor/acmetest"
)

// TestFrontDoorOnSandbox walks HTTPS from a server without Caddy to the
// app served by it with Pebble's certificates, in order.
func TestFrontDoorOnSandbox(t *testing.T) {
	g := newRig(t, acmetest.Options{Blocklist: []string{"refused.slipway.test"}})
	ctx := context.Background()
	domains := []string{"app.slipway.test", "www.app.slipway.test"}
	c := g.config(t, domains...)
	rel := g.current(t)

	t.Run("an invalid domain is refused before anything changes", func(t *testing.T) {
		env := map[string]string{"APP_DOMAIN": "app.slipway.test,exa mple.com"}
		_, err := frontdoor.FromEnv(func(k string) string { return env[k] }, g.svc.AppName, g.svc.ListenAddr)
		if err == nil || !strings.Contains(err.Error(), `"exa mple.com"`) || strings.Count(err.Error(), "\n") > 0 {
			t.Fatalf("FromEnv: %v, want one line naming the bad domain", err)
		}
		bad := c
		bad.Domains = []string{"-bad-.slipway.test"}
		if _, err := frontdoor.Provision(ctx, g.r, bad, io.Discard); err == nil {
			t.Fatal("Provision accepted an invalid domain")
		}
		if got := g.root(t, "dpkg-query -W -f='${db:Status-Status}' caddy 2>/dev/null || echo absent"); got != "absent" && got != "not-installed" {
			t.Errorf("caddy is %q after a refused provision", got)
		}
	})

	t.Run("provision installs Caddy and gets a certificate for each domain", func(t *testing.T) {
		n, out := g.provision(t, c)
		t.Logf("first provision:\n%s", out)
		for _, want := range []string{"changed: installed caddy 2.6", "changed: " + frontdoor.MainCaddyfile + " imports", "changed: " + c.SitePath() + " written", "changed: " + c.DropInPath()} {
			if !strings.Contains(out, want) {
				t.Errorf("no %q in the output", want)
			}
		}
		for _, d := range domains {
			if !strings.Contains(out, "ok: certificate for "+d+": subject ") || !strings.Contains(out, "issuer CN=Pebble Intermediate CA") {
				t.Errorf("no certificate line for %s", d)
			}
		}
		if n < 4 {
			t.Errorf("%d changes", n)
		}
		// The instance started from now on believes Caddy.
		g.start(t, rel)
	})

	t.Run("a client trusting only Pebble's root gets the app over HTTPS", func(t *testing.T) {
		for _, d := range domains {
			resp, err := g.client().Get("https://" + d + "/version")
			if err != nil {
				t.Fatal(err)
			}
			var v struct{ Version string }
			err = json.NewDecoder(resp.Body).Decode(&v)
			resp.Body.Close()
			if err != nil || v.Version != "v1" {
				t.Errorf("%s/version: %v %q", d, err, v.Version)
			}
			if got := resp.Header.Values("Strict-Transport-Security"); len(got) != 1 || got[0] != frontdoor.HSTS {
				t.Errorf("%s: Strict-Transport-Security %q, want once %q", d, got, frontdoor.HSTS)
			}
			if cert := g.served(t, d); !strings.Contains(cert.Issuer.CommonName, "Pebble") {
				t.Errorf("%s served a certificate from %s", d, cert.Issuer)
			}
		}
	})

	t.Run("the app sees the client's address, not a forged one", func(t *testing.T) {
		// A login that is not a form is refused and counted against the
		// client, whom the app logs.
		req, _ := http.NewRequest(http.MethodPost, "https://app.slipway.test/admin/login", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", "198.51.100.7")
		resp, err := g.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("POST /admin/login with JSON: %s", resp.Status)
		}
		logs := g.root(t, "journalctl -u "+g.svc.InstancePattern()+" --no-pager -o cat -n 50 | grep 'admin login refused' | tail -n 1")
		if !strings.Contains(logs, `"client":"`+clientAddr+`"`) {
			t.Errorf("the app counted the login against another client than %s: %s", clientAddr, logs)
		}
	})

	t.Run("the app believes X-Forwarded-Proto from loopback only", func(t *testing.T) {
		// On the app's own socket: 127.0.0.1 is Caddy's address, clientAddr
		// any other local process.
		for _, tc := range []struct {
			from string
			want bool
		}{{"127.0.0.1", true}, {clientAddr, false}} {
			req, _ := http.NewRequest(http.MethodGet, "http://"+g.svc.ListenAddr+"/admin/login", nil)
			req.Header.Set("X-Forwarded-Proto", "https")
			resp, err := plainFrom(tc.from).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Strict-Transport-Security") != ""; got != tc.want {
				t.Errorf("from %s: the app took the request for https: %v, want %v", tc.from, got, tc.want)
			}
		}
	})

	t.Run("HTTP redirects to HTTPS", func(t *testing.T) {
		resp, err := g.client().Get("http://app.slipway.test/admin/login?x=1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "https://app.slipway.test/admin/login?x=1" {
			t.Errorf("http:// answered %s, Location %q", resp.Status, resp.Header.Get("Location"))
		}
	})

	t.Run("a second provision changes nothing and reloads nothing", func(t *testing.T) {
		reloads := func() string { return g.root(t, "journalctl -u caddy --no-pager -o cat | grep -c '^Reloading' || true") }
		before, pid := reloads(), g.root(t, "systemctl show -P MainPID caddy")
		n, out := g.provision(t, c)
		if n != 0 || strings.Contains(out, "changed:") || !strings.HasSuffix(strings.TrimSpace(out), "https: nothing changed") {
			t.Errorf("second provision: %d changes\n%s", n, out)
		}
		if after := reloads(); after != before {
			t.Errorf("caddy reloaded (%s reloads before, %s after)", before, after)
		}
		if got := g.root(t, "systemctl show -P MainPID caddy"); got != pid {
			t.Errorf("caddy restarted: pid %s, then %s", pid, got)
		}
	})
}
