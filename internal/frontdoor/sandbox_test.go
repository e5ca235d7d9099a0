package frontdoor_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/admin"
	"github.com/slipway-dev/slipway/internal/bench/load"
	"github.com/slipway-dev/slipway/internal/createadmin"
	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/freeport"
	"github.com/slipway-dev/slipway/internal/frontdoor"
	"github.com/slipway-dev/slipway/internal/frontdoor/acmetest"
	"github.com/slipway-dev/slipway/internal/remote/remotetest"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest/apptest"
	"github.com/slipway-dev/slipway/internal/service"
)

// The two-app drill: deploys of the rig's app, and the load each app gets
// through Caddy meanwhile.
const (
	twoAppDeploys = 10
	twoAppRate    = 200
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
		_, err := frontdoor.FromEnv(func(k string) string { return env[k] }, g.svc)
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
		if got := g.ca.Accounts(); got != 1 || !strings.Contains(out, "ok: app.slipway.test ordered alone first") {
			t.Errorf("Caddy registered %d ACME accounts, want 1, app.slipway.test alone first; its storage:\n%s", got, g.root(t, "ls -lR "+frontdoor.AccountStorage))
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
			// The admin area sends its own HSTS too: still one header.
			resp, err = g.client().Get("https://" + d + "/admin/login")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Values("Strict-Transport-Security"); resp.StatusCode != http.StatusOK || len(got) != 1 {
				t.Errorf("%s/admin/login: %s, Strict-Transport-Security %q, want once", d, resp.Status, got)
			}
			if cert := g.served(t, d); !strings.Contains(cert.Issuer.CommonName, "Pebble") {
				t.Errorf("%s served a certificate from %s", d, cert.Issuer)
			}
		}
	})

	t.Run("the app sees the client's address, not a forged one", func(t *testing.T) {
		// A wrong password is refused and counted against the client, whom
		// the app logs.
		if logs := g.refusedLogin(t, g.client(), "https://app.slipway.test", "198.51.100.7"); !strings.Contains(logs, `"client":"`+clientAddr+`"`) {
			t.Errorf("the app counted the login against another client than %s: %s", clientAddr, logs)
		}
	})

	t.Run("a local process forging X-Forwarded-For on the app's TCP socket is counted as itself", func(t *testing.T) {
		// Issue 25 item 8: any local user reaches the app's loopback socket,
		// from 127.0.0.1 as Caddy once did. A wrong password is refused and
		// counted against the client the app believes.
		if logs := g.refusedLogin(t, plainFrom("127.0.0.1"), "http://"+g.svc.ListenAddr, "198.51.100.8"); !strings.Contains(logs, `"client":"127.0.0.1"`) {
			t.Errorf("a forged X-Forwarded-For over loopback TCP was believed: %s", logs)
		}
		// Nor is X-Forwarded-Proto believed there, from any local address.
		for _, from := range []string{"127.0.0.1", clientAddr} {
			req, _ := http.NewRequest(http.MethodGet, "http://"+g.svc.ListenAddr+"/admin/login", nil)
			req.Header.Set("X-Forwarded-Proto", "https")
			resp, err := plainFrom(from).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.Header.Get("Strict-Transport-Security") != "" {
				t.Errorf("from %s: the app took a plain request for https on X-Forwarded-Proto's word", from)
			}
		}
	})

	t.Run("Caddy's admin API refuses a new config from the app's user and other local users", func(t *testing.T) {
		// Issue 25 item 2: a config that replaces every site (a full
		// man-in-the-middle would serve the attacker's proxy instead).
		g.root(t, `printf '%s' '{"apps":{"http":{"servers":{"evil":{"listen":[":8444"],"routes":[{"handle":[{"handler":"static_response","body":"pwned"}]}]}}}}}' > /tmp/evil.json && chmod 644 /tmp/evil.json`)
		for _, user := range []string{g.svc.ServiceUser, "nobody"} {
			for _, addr := range []string{"127.0.0.1:2019", "localhost:2019", "unix/" + frontdoor.AdminSocket} {
				out, err := remotetest.RootShell(ctx, g.r, "runuser -u "+user+" -- caddy reload --config /tmp/evil.json --address "+addr+" 2>&1", nil)
				if err == nil {
					t.Errorf("%s loaded a config through %s: %s", user, addr, bytes.TrimSpace(out))
					g.root(t, "systemctl reload caddy")
				}
			}
		}
		if got := get(t, g.client(), "https://app.slipway.test/healthz"); !strings.Contains(got, "ok") {
			t.Errorf("HTTPS after the attempts: %q", got)
		}
		// Caddy's own reload (the package's ExecReload reads the admin
		// address from the config) still works.
		g.root(t, "systemctl reload caddy")
	})

	t.Run("a local user other than the app's cannot read /metrics", func(t *testing.T) {
		// Issue 25 item 8: METRICS_ADDR is on loopback, where every local
		// user connects. Bash's /dev/tcp: the sandbox has no curl.
		scrape := func(user, auth string) string {
			_, port, _ := net.SplitHostPort(g.metrics)
			out, _ := remotetest.RootShell(ctx, g.r, "runuser -u "+user+` -- bash -c 'exec 3<>/dev/tcp/127.0.0.1/`+port+`; printf "GET /metrics HTTP/1.0\r\nHost: x\r\n`+auth+`\r\n" >&3; cat <&3' 2>&1`, nil)
			return string(out)
		}
		var got string
		for range 50 { // the live instance binds METRICS_ADDR once the old one is gone
			if got = scrape("nobody", ""); strings.HasPrefix(got, "HTTP/") {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if !strings.HasPrefix(got, "HTTP/1.0 401") || strings.Contains(got, "slipway_build_info") {
			t.Errorf("nobody scraped /metrics without the token: %.300s", got)
		}
		if got := scrape("nobody", `Authorization: Bearer wrong-token-0123456789\r\n`); !strings.HasPrefix(got, "HTTP/1.0 401") {
			t.Errorf("a wrong token: %.300s", got)
		}
		if got := scrape("nobody", `Authorization: Bearer `+metricsToken+`\r\n`); !strings.HasPrefix(got, "HTTP/1.0 200") || !strings.Contains(got, "slipway_build_info") {
			t.Errorf("a scraper with METRICS_TOKEN: %.300s", got)
		}
	})

	t.Run("Caddy forwards the client's address and https, whatever the client claims", func(t *testing.T) {
		// A second app's front door on the same Caddy, proxying to a
		// server in this test (the sandbox shares this machine's network)
		// that records what reaches it.
		got := make(chan http.Header, 1)
		echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case got <- r.Header.Clone():
			default:
			}
		}))
		defer echo.Close()
		e := g.config(t, "echo.slipway.test")
		e.AppName, e.Upstream = "echo", strings.TrimPrefix(echo.URL, "http://")
		g.provision(t, e)
		defer g.root(t, "rm -rf "+e.SitePath()+" "+path.Dir(e.DropInPath())+" && systemctl daemon-reload && systemctl reload caddy")
		req, _ := http.NewRequest(http.MethodGet, "https://echo.slipway.test/", nil)
		req.Header.Set("X-Forwarded-For", "198.51.100.7")
		req.Header.Set("X-Forwarded-Proto", "http")
		resp, err := g.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := <-got
		if h.Get("X-Forwarded-For") != clientAddr || h.Get("X-Forwarded-Proto") != "https" || h.Get("X-Forwarded-Host") != "echo.slipway.test" {
			t.Errorf("upstream got X-Forwarded-For %q, -Proto %q, -Host %q; want %s, https, echo.slipway.test",
				h.Values("X-Forwarded-For"), h.Values("X-Forwarded-Proto"), h.Values("X-Forwarded-Host"), clientAddr)
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
		reloads := func() string {
			return g.root(t, "journalctl -u caddy --no-pager -o cat | grep -c '^Reloading' || true")
		}
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

	t.Run("go run mage.go provision with APP_DOMAIN: the same, through the target", func(t *testing.T) {
		env := []string{"DEPLOY_HOST=" + g.sb.Alias, "DEPLOY_SSH_CONFIG=" + g.sb.ConfigPath, "APP_LISTEN=" + g.svc.ListenAddr,
			"APP_DOMAIN=" + strings.Join(domains, ","), "ACME_CA=" + c.CA, "ACME_EMAIL=" + c.Email}
		out, err := mage(t, env, "provision")
		if err != nil || !strings.Contains(out, "provision: nothing changed") || !strings.Contains(out, "https: nothing changed") {
			t.Errorf("go run mage.go provision: %v\n%s", err, out)
		}
		out, err = mage(t, append(env, "APP_DOMAIN=app.slipway.test,exa mple.com"), "provision")
		if err == nil || !strings.Contains(out, `APP_DOMAIN: "exa mple.com"`) || strings.Contains(out, "provision "+g.sb.Alias) {
			t.Errorf("provision with a bad APP_DOMAIN went on, or said something else: %v\n%s", err, out)
		}
	})

	t.Run("status shows each domain's certificate", func(t *testing.T) {
		o := deploy.Options{Hosts: []string{g.sb.Alias}, SSHConfig: g.sb.ConfigPath, Service: g.svc, Getenv: func(string) string { return "" }}
		var text, js bytes.Buffer
		o.Stdout = &text
		if err := deploy.Status(ctx, o, 5); err != nil {
			t.Fatal(err)
		}
		for _, d := range domains {
			if !regexp.MustCompile(`(?m)^https +` + regexp.QuoteMeta(d) + `: subject CN=` + regexp.QuoteMeta(d) + `, issuer CN=Pebble Intermediate CA \w+, expires 20\d\d-`).MatchString(text.String()) {
				t.Errorf("no certificate line for %s in status:\n%s", d, text.String())
			}
		}
		o.Stdout = &js
		if err := deploy.StatusJSON(ctx, o, 5); err != nil {
			t.Fatal(err)
		}
		var rep deploy.StatusReport
		if err := json.Unmarshal(js.Bytes(), &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Hosts) != 1 || len(rep.Hosts[0].HTTPS) != len(domains) {
			t.Fatalf("status -json: %s", js.String())
		}
		for i, ct := range rep.Hosts[0].HTTPS {
			if ct.Domain != domains[i] || !ct.FromCA(c.CA) || ct.NotAfter.Before(time.Now()) || ct.Err != "" {
				t.Errorf("status -json https[%d]: %+v", i, ct)
			}
		}
	})

	t.Run("a server provisioned by the previous version is moved to the sockets by provision, under load", func(t *testing.T) {
		// The previous version's state: TRUSTED_PROXIES=loopback in the
		// drop-in, Caddy on the app's TCP socket and its admin API on
		// localhost:2019, an instance started without the proxy socket.
		g.root(t, "systemctl disable --now "+c.ProxySocketUnit()+" "+c.ProxyHolderUnit()+
			" && rm -f /etc/systemd/system/"+c.ProxySocketUnit()+" /etc/systemd/system/"+c.ProxyHolderUnit()+
			` && printf '[Service]\nEnvironment=TRUSTED_PROXIES=127.0.0.1/32,::1/128\n' > `+c.DropInPath()+
			" && sed -i 's#reverse_proxy unix//run/app/proxy.sock#reverse_proxy "+g.svc.ListenAddr+"#' "+c.SitePath()+
			` && sed -i '/^# Added by Slipway (provision): Caddy/,/^}$/d' `+frontdoor.MainCaddyfile+
			" && caddy reload --config "+frontdoor.MainCaddyfile+" --address unix/"+frontdoor.AdminSocket+
			" && rm -rf /etc/systemd/system/caddy.service.d /run/caddy && systemctl daemon-reload")
		g.install(t, "r-old", "v1")
		g.start(t, "r-old")
		defer g.start(t, rel)
		if got := get(t, plainFrom("127.0.0.1"), "http://127.0.0.1:2019/config/"); !strings.Contains(got, "reverse_proxy") {
			t.Fatalf("the previous version's state: Caddy's admin API on localhost:2019 answered %.200q", got)
		}
		l := load.StartWith(ctx, "https://app.slipway.test/healthz", 100, transport(g.pool))
		time.Sleep(300 * time.Millisecond)
		n, out := g.provision(t, c)
		time.Sleep(300 * time.Millisecond)
		res := l.Stop()
		t.Logf("provision (%d changes):\n%s\nload: %s", n, out, res)
		for _, want := range []string{"changed: " + frontdoor.MainCaddyfile + " puts Caddy's admin API on", "changed: release r-old serves as app@r-old.g1.service",
			"changed: " + c.SitePath() + " written", "changed: caddy reloaded"} {
			if !strings.Contains(out, want) {
				t.Errorf("no %q in the output", want)
			}
		}
		if res.Failed > 0 || res.Sent < 100 {
			t.Errorf("want 0 failures while provision moves the app and Caddy: %s", res)
		}
		if _, err := plainFrom("127.0.0.1").Get("http://127.0.0.1:2019/config/"); err == nil {
			t.Error("Caddy's admin API still answers on localhost:2019")
		}
		// Through Caddy the client; over loopback TCP the forger itself.
		for _, tc := range []struct {
			c    *http.Client
			url  string
			want string
		}{{g.client(), "https://app.slipway.test/admin/login", clientAddr}, {plainFrom("127.0.0.1"), "http://" + g.svc.ListenAddr + "/admin/login", "127.0.0.1"}} {
			if logs := g.refusedLogin(t, tc.c, strings.TrimSuffix(tc.url, "/admin/login"), "198.51.100.9"); !strings.Contains(logs, `"client":"`+tc.want+`"`) {
				t.Errorf("%s: the app counted the login against another client than %s: %s", tc.url, tc.want, logs)
			}
		}
	})

	t.Run("a pre-existing Caddy site survives", func(t *testing.T) {
		// Someone else's site, in the main Caddyfile beside Debian's default.
		g.root(t, `printf '\nhttp://other.slipway.test {\n\trespond "other site" 200\n}\n' >> `+frontdoor.MainCaddyfile+` && systemctl reload caddy`)
		more := g.config(t, append(domains, "api.app.slipway.test")...)
		if n, out := g.provision(t, more); n != 2 || !strings.Contains(out, "changed: "+c.SitePath()+" written") || !strings.Contains(out, "changed: caddy reloaded") {
			t.Errorf("provision with a new domain: %d changes\n%s", n, out)
		}
		for url, want := range map[string]string{"http://other.slipway.test/": "other site", "https://api.app.slipway.test/healthz": "ok"} {
			if got := get(t, g.client(), url); !strings.Contains(got, want) {
				t.Errorf("%s answered %q, want %q", url, got, want)
			}
		}
		main := g.root(t, "cat "+frontdoor.MainCaddyfile)
		if !strings.Contains(main, `respond "other site" 200`) || !strings.Contains(main, "root * /usr/share/caddy") || strings.Count(main, frontdoor.ImportLine) != 1 {
			t.Errorf("the main Caddyfile lost something:\n%s", main)
		}
		g.provision(t, c)
		if got := get(t, g.client(), "http://other.slipway.test/"); got != "other site" {
			t.Errorf("the other site answered %q after a second provision", got)
		}
	})

	t.Run("an ACME account Caddy 2.6's race left broken is replaced", func(t *testing.T) {
		reg := g.breakAccount(t, c, g.ca)
		accounts := g.ca.Accounts()
		n, out := g.provision(t, g.config(t, append(domains, "api2.app.slipway.test")...))
		t.Logf("provision (%d changes):\n%s", n, out)
		if !strings.Contains(out, "changed: Caddy's ACME account moved aside to "+frontdoor.AccountsAside+"/") || !strings.Contains(out, "ok: certificate for api2.app.slipway.test: ") {
			t.Errorf("provision did not replace the account and get the certificate")
		}
		if got := g.ca.Accounts(); got != accounts+1 {
			t.Errorf("Caddy registered %d accounts, want 1", got-accounts)
		}
		if got := g.root(t, "cat "+regFile(c)); got == reg {
			t.Error("the registration is the broken account's")
		}
		if got := get(t, g.client(), "https://api2.app.slipway.test/healthz"); !strings.Contains(got, "ok") {
			t.Errorf("api2.app.slipway.test answered %q", got)
		}
		g.provision(t, c)
	})

	t.Run(fmt.Sprintf("two apps behind their own domains: %d deploys of one under %d req/s to each, 0 failed on both", twoAppDeploys, twoAppRate), func(t *testing.T) {
		// The second app: a real Slipway app of another name on the same
		// server and Caddy, with its own site, certificate, proxy socket,
		// units and database.
		svc2 := service.DefaultsFor("second")
		svc2.ServiceUser = "app" // the sandbox's PostgreSQL role, by peer authentication
		db, err := g.sb.FreshDatabase(ctx, "second")
		if err != nil {
			t.Fatal(err)
		}
		second := apptest.Installed(t, g.sb, svc2, apptest.Options{DatabaseURL: db, Binary: apptest.Build(t, "s1", "5ec0d001"),
			Env: []string{"PASSWORD_PEPPER=" + pepper}})
		svc2 = second.Service
		e := g.config(t, "second.slipway.test")
		e.AppName, e.Service = svc2.AppName, svc2
		defer g.root(t, "systemctl stop "+svc2.SocketUnit()+" "+e.ProxySocketUnit()+" "+svc2.CurrentUnit()+" '"+svc2.InstancePattern()+"'; true")
		g.provision(t, e)
		defer g.root(t, "rm -rf "+e.SitePath()+" "+path.Dir(e.DropInPath())+" && systemctl daemon-reload && systemctl reload caddy")
		if h, err := service.Handover(ctx, g.r, svc2, service.HandoverRequest{Release: second.Release, ReadyTimeout: 2 * time.Minute}); err != nil || h.Outcome != "ok" {
			t.Fatalf("start the second app: %v %+v", err, h)
		}
		if got := get(t, g.client(), "https://second.slipway.test/version"); !strings.Contains(got, "5ec0d001") {
			t.Fatalf("https://second.slipway.test/version answered %q", got)
		}

		bins := []string{apptest.Build(t, "v2", "c0ffee02"), apptest.Build(t, "v3", "c0ffee03")}
		o := deploy.Options{Hosts: []string{g.sb.Alias}, SSHConfig: g.sb.ConfigPath, Service: g.svc, Getenv: func(string) string { return "" },
			Keep: 2 * twoAppDeploys, ReadyTimeout: time.Minute}
		l := load.StartWith(ctx, "https://app.slipway.test/healthz", twoAppRate, transport(g.pool))
		l2 := load.StartWith(ctx, "https://second.slipway.test/version", twoAppRate, transport(g.pool))
		time.Sleep(300 * time.Millisecond)
		for i := range twoAppDeploys {
			var out bytes.Buffer
			o.Stdout, o.Binary = &out, bins[i%2]
			if _, err := deploy.Deploy(ctx, o, false); err != nil {
				l.Stop()
				l2.Stop()
				t.Fatalf("deploy %d: %v\n%s", i+1, err, out.String())
			}
		}
		time.Sleep(300 * time.Millisecond)
		res, res2 := l.Stop(), l2.Stop()
		t.Logf("%d deploys of %s through Caddy: %s; %s meanwhile: %s", twoAppDeploys, g.svc.AppName, res, svc2.AppName, res2)
		if res.Failed > 0 || res.Sent < twoAppRate || res2.Failed > 0 || res2.Sent < twoAppRate || res2.Answered("5ec0d001") != res2.Sent {
			t.Errorf("want 0 failures out of at least %d requests on both, the second app always itself: %s; %s", twoAppRate, res, res2)
		}
		// The rest of this test runs on the release it started with.
		g.start(t, rel)
	})

	t.Run("Caddy down leaves the app up on its socket", func(t *testing.T) {
		g.root(t, "systemctl stop caddy")
		if _, err := g.client().Get("https://app.slipway.test/healthz"); err == nil {
			t.Error("HTTPS answered with Caddy stopped")
		}
		if got := get(t, plainFrom("127.0.0.1"), "http://"+g.svc.ListenAddr+"/healthz"); !strings.Contains(got, "ok") {
			t.Errorf("the app's socket answered %q with Caddy stopped", got)
		}
		// provision brings it back (start, not restart: it was stopped).
		if _, out := g.provision(t, c); !strings.Contains(out, "changed: caddy started") {
			t.Errorf("provision with Caddy stopped:\n%s", out)
		}
		if got := get(t, g.client(), "https://app.slipway.test/healthz"); !strings.Contains(got, "ok") {
			t.Errorf("HTTPS after provision: %q", got)
		}
	})

	t.Run("a configuration Caddy refuses is put back, the running one serves on", func(t *testing.T) {
		// Someone broke the main Caddyfile since Caddy last loaded it.
		g.root(t, `cp -p `+frontdoor.MainCaddyfile+` /root/Caddyfile.before && printf 'this is not a site {\n' >> `+frontdoor.MainCaddyfile)
		defer g.root(t, `mv -f /root/Caddyfile.before `+frontdoor.MainCaddyfile)
		site := g.root(t, "sha256sum "+c.SitePath())
		var out strings.Builder
		_, err := frontdoor.Provision(ctx, g.r, g.config(t, append(domains, "api.app.slipway.test")...), &out)
		t.Logf("provision: %v", err)
		if err == nil || !strings.Contains(err.Error(), "caddy refused the configuration, files put back") || strings.Contains(err.Error(), "\n") {
			t.Errorf("provision: %v, want one line saying Caddy refused it\n%s", err, out.String())
		}
		if got := g.root(t, "sha256sum "+c.SitePath()); got != site {
			t.Error("the site file was not put back")
		}
		if got := get(t, g.client(), "https://app.slipway.test/healthz"); !strings.Contains(got, "ok") {
			t.Errorf("HTTPS after the refused reload: %q", got)
		}
	})

	t.Run("ports 80/443 taken by another server are named", func(t *testing.T) {
		g.root(t, "systemctl stop caddy")
		// The sandbox shares this machine's network: a listener here holds
		// the sandbox's port 80.
		l, err := net.Listen("tcp", ":80")
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		_, err = frontdoor.Provision(ctx, g.r, c, &out)
		l.Close()
		t.Logf("provision: %v", err)
		if err == nil || !strings.Contains(err.Error(), "ports 80/443 are taken by another server on this host") || strings.Contains(err.Error(), "\n") {
			t.Errorf("provision: %v, want one line naming the ports\n%s", err, out.String())
		}
		if got := get(t, plainFrom("127.0.0.1"), "http://"+g.svc.ListenAddr+"/healthz"); !strings.Contains(got, "ok") {
			t.Errorf("the app's socket: %q", got)
		}
		if _, out := g.provision(t, c); !strings.Contains(out, "changed: caddy started") {
			t.Errorf("provision once the port is free:\n%s", out)
		}
	})

	// Each fault: one line naming it, the site file and the app as before.
	fault := func(t *testing.T, bad frontdoor.Config, want string) {
		t.Helper()
		site := g.root(t, "sha256sum "+c.SitePath())
		var out strings.Builder
		_, err := frontdoor.Provision(ctx, g.r, bad, &out)
		t.Logf("provision: %v\n%s", err, out.String())
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("provision: %v, want one line with %q\ncaddy:\n%s", err, want, g.root(t, "journalctl -u caddy -n 30 --no-pager -o cat | grep -v '\"level\":\"info\"'"))
		}
		if got := g.root(t, "sha256sum "+c.SitePath()); got != site {
			t.Error("the site file was not put back")
		}
		if got := get(t, g.client(), "https://app.slipway.test/healthz"); !strings.Contains(got, "ok") {
			t.Errorf("HTTPS after the fault: %q", got)
		}
		if got := get(t, plainFrom("127.0.0.1"), "http://"+g.svc.ListenAddr+"/healthz"); !strings.Contains(got, "ok") {
			t.Errorf("the app's socket after the fault: %q", got)
		}
	}

	t.Run("a domain that does not resolve is named", func(t *testing.T) {
		bad := c
		bad.Domains = append(append([]string{}, domains...), "nowhere.slipway.test")
		fault(t, bad, "nowhere.slipway.test does not resolve to this server")
	})

	t.Run("the CA refusing is named", func(t *testing.T) {
		bad := g.config(t, append(domains, "refused.slipway.test")...)
		fault(t, bad, "the CA refused a certificate for refused.slipway.test: HTTP 400 urn:ietf:params:acme:error:rejectedIdentifier")
	})

	t.Run("ports 80/443 unreachable are named", func(t *testing.T) {
		// A CA that validates on ports nobody listens on: a firewall.
		closed := acmetest.Options{}
		var err error
		if closed.HTTPPort, err = freeport.Pick(); err != nil {
			t.Fatal(err)
		}
		if closed.TLSPort, err = freeport.Pick(); err != nil {
			t.Fatal(err)
		}
		ca2, err := acmetest.Start(ctx, closed)
		if err != nil {
			t.Fatal(err)
		}
		defer ca2.Close()
		if err := ca2.TrustListener(ctx, g.r); err != nil {
			t.Fatal(err)
		}
		// Go reads the system's roots once per process.
		g.root(t, "systemctl restart caddy")
		for _, d := range domains {
			if err := ca2.AddA(ctx, d, "127.0.0.1"); err != nil {
				t.Fatal(err)
			}
		}
		bad := c
		bad.CA = ca2.Directory()
		fault(t, bad, "app.slipway.test are not reachable from the internet")
	})

	t.Run("an admin logs in with a browser over HTTPS; the cookies are Secure", func(t *testing.T) {
		const email, pw = "ada@slipway.test", "correct horse battery staple 42"
		var out strings.Builder
		if err := createadmin.Run(ctx, g.r, g.svc, createadmin.Options{Email: email, Password: pw, Stdout: &out}); err != nil {
			t.Fatalf("createAdmin: %v\n%s", err, out.String())
		}
		_, root, err := g.ca.Roots(ctx)
		if err != nil {
			t.Fatal(err)
		}
		mid, err := g.ca.Intermediate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cookies, at := browserLogin(t, "app.slipway.test", email, pw, spki(t, root, mid))
		if at != "https://app.slipway.test/admin" {
			t.Errorf("after the login the browser is at %s", at)
		}
		var session bool
		for _, ck := range cookies {
			t.Logf("cookie %s secure=%v httponly=%v samesite=%s", ck.Name, ck.Secure, ck.HTTPOnly, ck.SameSite)
			if !ck.Secure || !strings.HasPrefix(ck.Name, "__Host-") {
				t.Errorf("cookie %s: Secure=%v, want Secure and the __Host- prefix", ck.Name, ck.Secure)
			}
			session = session || ck.Name == "__Host-"+admin.SessionCookie
		}
		if !session {
			t.Errorf("no session cookie among %d cookies", len(cookies))
		}
	})

	t.Run("a renewal under load fails no request", func(t *testing.T) {
		// Certificates of 90 s: Caddy renews with a third of the lifetime
		// left, 30 s before they expire. This server's admin has Caddy look every 5 s (10 min by
		// default) in the global options, which Slipway leaves to them.
		ca3, err := acmetest.Start(ctx, acmetest.Options{Validity: 90 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer ca3.Close()
		if err := ca3.TrustListener(ctx, g.r); err != nil {
			t.Fatal(err)
		}
		g.root(t, `sed -i '0,/^{$/s//{\n\trenew_interval 5s/' `+frontdoor.MainCaddyfile+` && systemctl restart caddy`)
		pool3, _, err := ca3.Roots(ctx)
		if err != nil {
			t.Fatal(err)
		}
		short := c
		short.CA = ca3.Directory()
		for _, d := range domains {
			if err := ca3.AddA(ctx, d, "127.0.0.1"); err != nil {
				t.Fatal(err)
			}
		}
		accounts := ca3.Accounts()
		_, out := g.provision(t, short)
		if got := ca3.Accounts() - accounts; got != 1 || !strings.Contains(out, "ok: app.slipway.test ordered alone first") {
			t.Errorf("Caddy registered %d accounts with a new CA, want 1, app.slipway.test alone first:\n%s", got, out)
		}
		g.pool = pool3
		first := g.served(t, "app.slipway.test")
		l := load.StartWith(ctx, "https://app.slipway.test/healthz", 100, transport(pool3))
		var renewed *x509.Certificate
		for renewed == nil && time.Now().Before(first.NotAfter) {
			time.Sleep(time.Second)
			if cur, err := g.tryServed("app.slipway.test"); err == nil && cur.SerialNumber.Cmp(first.SerialNumber) != 0 {
				renewed = cur
			}
		}
		time.Sleep(time.Second)
		res := l.Stop()
		t.Logf("renewal: %s", res)
		if renewed == nil {
			t.Fatalf("no renewal before the certificate expired at %s; caddy:\n%s", first.NotAfter,
				g.root(t, "journalctl -u caddy -n 40 --no-pager -o cat | grep -v '\"level\":\"info\"' | cut -c1-400"))
		}
		if !renewed.NotAfter.After(first.NotAfter) {
			t.Errorf("renewed certificate expires %s, the first %s", renewed.NotAfter, first.NotAfter)
		}
		if res.Failed > 0 || res.Sent < 100 {
			t.Errorf("want 0 failures during the renewal: %s", res)
		}
		certs, err := frontdoor.Certificates(ctx, g.r, []string{"app.slipway.test"})
		if err != nil || len(certs) != 1 || !certs[0].FromCA(ca3.Directory()) {
			t.Errorf("Certificates after the renewal: %v %+v", err, certs)
		}

		t.Run("a renewal the CA refuses for a broken account is put right by provision, under load", func(t *testing.T) {
			// What Caddy 2.6's race leaves (see the test above), met at the
			// next renewal: Caddy retries it in vain while the
			// certificates still serve.
			certs := func() []frontdoor.Certificate {
				t.Helper()
				cs, err := frontdoor.Certificates(ctx, g.r, domains)
				if err != nil {
					t.Fatal(err)
				}
				return cs
			}
			// until waits for ok of every domain's certificate, up to the
			// first one's expiry.
			until := func(what string, ok func(frontdoor.Certificate) bool) []frontdoor.Certificate {
				t.Helper()
				for {
					cs, all := certs(), true
					deadline := cs[0].NotAfter
					for _, ct := range cs {
						all = all && ok(ct)
						if ct.NotAfter.Before(deadline) {
							deadline = ct.NotAfter
						}
					}
					if all {
						return cs
					}
					if time.Now().After(deadline) {
						t.Fatalf("no %s before a certificate expired; caddy:\n%s", what, g.root(t, "journalctl -u caddy -n 40 --no-pager -o cat | grep -v '\"level\":\"info\"' | cut -c1-400"))
					}
					time.Sleep(time.Second)
				}
			}
			// Every domain renewed above (www may be still at it), then the
			// account broken.
			until("renewal of every domain", func(ct frontdoor.Certificate) bool { return ct.FromCA(short.CA) && !ct.Due(time.Now()) })
			since := g.root(t, "date +%s")
			g.breakAccount(t, short, ca3)
			// Caddy tries both renewals in vain.
			before := until("refused renewals", func(ct frontdoor.Certificate) bool {
				return ct.Due(time.Now()) && g.root(t, "journalctl -u caddy --since @"+since+" --no-pager -o cat | grep -F 'JWS verification error' | grep -F '\"identifier\":\""+ct.Domain+"\"' | head -n 1") != ""
			})
			accounts := ca3.Accounts()
			// app.slipway.test renews alone first while www serves the
			// certificate it has.
			l := load.StartWith(ctx, "https://app.slipway.test/healthz", 100, transport(pool3))
			lw := load.StartWith(ctx, "https://www.app.slipway.test/healthz", 100, transport(pool3))
			_, out := g.provision(t, short)
			time.Sleep(300 * time.Millisecond)
			res, resw := l.Stop(), lw.Stop()
			t.Logf("provision:\n%s\nload: %s; www: %s", out, res, resw)
			for _, want := range []string{"changed: Caddy's ACME account moved aside", "ok: app.slipway.test ordered alone first"} {
				if !strings.Contains(out, want) {
					t.Errorf("no %q in the output", want)
				}
			}
			after, err := frontdoor.Certificates(ctx, g.r, domains)
			if err != nil {
				t.Fatal(err)
			}
			for i := range domains {
				if after[i].Serial == before[i].Serial || !after[i].NotAfter.After(before[i].NotAfter) {
					t.Errorf("%s not renewed: %+v, before %+v", domains[i], after[i], before[i])
				}
			}
			if got := ca3.Accounts() - accounts; got != 1 {
				t.Errorf("Caddy registered %d accounts, want 1", got)
			}
			if res.Failed > 0 || res.Sent < 100 || resw.Failed > 0 || resw.Sent < 100 {
				t.Errorf("want 0 failures while provision renews: %s; www: %s", res, resw)
			}
		})
	})
}

// get returns the body of a GET to url; the test fails on an error.
func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return strings.TrimSpace(string(b))
}

// mage runs `go run mage.go args...` in the repository with env added.
func mage(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"run", "mage.go"}, args...)...)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
