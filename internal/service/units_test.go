package service

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/helper/client"
	"github.com/slipway-dev/slipway/internal/testenv"
)

// writeUnits renders the units for a deploy path under a temp dir holding a
// dummy executable at current/app (verify fails when ExecStart is missing),
// and returns the unit dir.
func writeUnits(t *testing.T, c Config) (dir string, cfg Config) {
	t.Helper()
	root := t.TempDir()
	c.DeployPath = filepath.Join(root, "deploy")
	rel := filepath.Join(c.ReleasesDir(), "r1")
	if err := os.MkdirAll(rel, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rel, "app"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("releases/r1", c.CurrentLink()); err != nil {
		t.Fatal(err)
	}
	units, err := Units(c)
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(root, "units")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The helper that would install them: ensure-units puts its path in.
	bin, err := client.Build(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range units {
		b = bytes.ReplaceAll(b, []byte(helper.UnitHelper), []byte(bin.Path))
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// An instance is the template under the instance's name, as systemd
	// reads it: verify and security take unit files, not templates.
	if err := os.Symlink(c.TemplateUnit(), filepath.Join(dir, c.InstanceUnit("r1"))); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(c.NotifyUnit(), filepath.Join(dir, notifyInstance(c))); err != nil {
		t.Fatal(err)
	}
	return dir, c
}

// notifyInstance is an alert's instance of the notify template, as a
// failing job's OnFailure= names it.
func notifyInstance(c Config) string {
	return strings.Replace(c.NotifyUnit(), "@", "@"+c.AppName+"-job-nightly.service", 1)
}

func needAnalyze(t *testing.T) {
	t.Helper()
	_, err := exec.LookPath("systemd-analyze")
	testenv.Need(t, err == nil, "systemd-analyze (apt-get install systemd)")
}

func configs() map[string]Config {
	wd := DefaultConfig()
	wd.Watchdog = 30 * time.Second
	named := DefaultConfig()
	named.AppName, named.ServiceUser, named.ListenAddr = "shop", "shop-web", "[::1]:9000"
	return map[string]Config{"defaults": DefaultConfig(), "watchdog": wd, "named": named}
}

func TestVerifyPrintsNothing(t *testing.T) {
	needAnalyze(t)
	for name, c := range configs() {
		t.Run(name, func(t *testing.T) {
			dir, c := writeUnits(t, c)
			// verify exits 0 on warnings: its output is the verdict.
			out, err := exec.Command("systemd-analyze", "verify", filepath.Join(dir, c.SocketUnit()),
				filepath.Join(dir, c.CurrentUnit()), filepath.Join(dir, c.InstanceUnit("r1")),
				filepath.Join(dir, notifyInstance(c))).CombinedOutput()
			if err != nil || len(out) > 0 {
				t.Errorf("systemd-analyze verify: err %v, output:\n%s", err, out)
			}
		})
	}
}

var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// exposure runs systemd-analyze security --offline on a unit file.
func exposure(t *testing.T, unit string) float64 {
	t.Helper()
	out, err := exec.Command("systemd-analyze", "security", "--offline=yes", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := exposureRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestExposureAtMost2(t *testing.T) {
	needAnalyze(t)
	dir, c := writeUnits(t, DefaultConfig())
	got := exposure(t, filepath.Join(dir, c.InstanceUnit("r1")))
	t.Logf("exposure of the generated %s: %.1f", c.TemplateUnit(), got)
	if got > 2.0 {
		t.Errorf("exposure %.1f, want <= 2.0", got)
	}
	if got := exposure(t, filepath.Join(dir, notifyInstance(c))); got > 2.0 {
		t.Errorf("exposure of %s: %.1f, want <= 2.0", c.NotifyUnit(), got)
	} else {
		t.Logf("exposure of the generated %s: %.1f", c.NotifyUnit(), got)
	}
	// The yardstick: the same unit without its hardening scores "UNSAFE".
	bare := filepath.Join(t.TempDir(), "bare.service")
	if err := os.WriteFile(bare, []byte("[Service]\nExecStart="+c.Binary()+" serve\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b := exposure(t, bare); b < 9 {
		t.Errorf("bare unit exposure %.1f: the measurement is off", b)
	}
}

// Backups and restores run as root in a transient unit (DetachedJob) with
// DetachedHardening's properties: scored the way systemd scores the unit.
func TestDetachedJobExposure(t *testing.T) {
	needAnalyze(t)
	d, err := DetachedJob(DefaultConfig(), "score", "a job to score", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), d.Unit)
	text := "[Service]\nExecStart=/usr/bin/true\n" + strings.Join(d.Properties, "\n") + "\n"
	if err := os.WriteFile(unit, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	got := exposure(t, unit)
	t.Logf("exposure of a backup's transient unit: %.1f", got)
	if got > 3.0 {
		t.Errorf("exposure %.1f, want <= 3.0", got)
	}
}

func TestUnitsFollowConfig(t *testing.T) {
	c := DefaultConfig()
	c.AppName, c.ServiceUser, c.DeployPath, c.ListenAddr = "shop", "shopd", "/srv/shop", "127.0.0.1:9000"
	c.Watchdog = 20 * time.Second
	units, err := Units(c)
	if err != nil {
		t.Fatal(err)
	}
	svc, sock, cur, alert := string(units["shop@.service"]), string(units["shop.socket"]), string(units["shop-current.service"]), string(units["shop-notify@.service"])
	if len(units) != 4 || svc == "" || sock == "" || cur == "" || alert == "" {
		t.Fatalf("want shop@.service, shop.socket, shop-current.service and shop-notify@.service, got %d units", len(units))
	}
	if !strings.Contains(alert, "ExecStart="+helper.UnitHelper+" notify-failure shop %i\n") || strings.Contains(alert, "[Install]") {
		t.Errorf("shop-notify@.service:\n%s", alert)
	}
	for _, want := range []string{
		"Type=notify", "ExecStart=" + helper.UnitHelper + " serve-release /srv/shop/releases %i\n", "User=shopd", "Requires=shop.socket", "Sockets=shop.socket",
		"EnvironmentFile=/etc/shop/shop.env", "Restart=on-failure", "TimeoutStartSec=900s", "WatchdogSec=20s",
		"ProtectHome=tmpfs", "BindReadOnlyPaths=/srv/shop/releases\n", "CapabilityBoundingSet=\n",
	} {
		if !strings.Contains(svc, want) {
			t.Errorf("shop@.service lacks %q", want)
		}
	}
	if strings.Contains(svc, "[Install]") {
		t.Error("instances are never enabled: shop@.service has an [Install] section")
	}
	for _, want := range []string{"ListenStream=127.0.0.1:9000", "Service=shop-current.service"} {
		if !strings.Contains(sock, want) {
			t.Errorf("shop.socket lacks %q:\n%s", want, sock)
		}
	}
	for _, want := range []string{"Type=oneshot", "RemainAfterExit=yes", "ExecStart=" + helper.UnitHelper + " start-current /srv/shop/current shop\n", "WantedBy=multi-user.target"} {
		if !strings.Contains(cur, want) {
			t.Errorf("shop-current.service lacks %q:\n%s", want, cur)
		}
	}
	c.Watchdog = 0
	units, _ = Units(c)
	if strings.Contains(string(units["shop@.service"]), "WatchdogSec") {
		t.Error("WatchdogSec set with the watchdog off")
	}
	legacy, err := LegacyUnits(c)
	if err != nil {
		t.Fatal(err)
	}
	if l := string(legacy["shop.service"]); !strings.Contains(l, "ExecStart=/srv/shop/current/app serve") || strings.Contains(string(legacy["shop.socket"]), "Service=") {
		t.Errorf("legacy units:\n%s\n%s", l, legacy["shop.socket"])
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{"APP_NAME": "shop", "DEPLOY_PATH": "/srv/shop/", "APP_LISTEN": "127.0.0.1:9000", "APP_WATCHDOG": "30s"}
	c, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.AppName != "shop" || c.ServiceUser != "shop" || c.DeployPath != "/srv/shop" || c.Watchdog != 30*time.Second {
		t.Errorf("got %+v", c)
	}
	if c.EnvFile() != "/etc/shop/shop.env" || c.Binary() != "/srv/shop/current/app" {
		t.Errorf("paths: %s %s", c.EnvFile(), c.Binary())
	}
	d, err := ConfigFromEnv(func(string) string { return "" })
	if err != nil || d != DefaultConfig() {
		t.Errorf("defaults: %+v %v", d, err)
	}
}

func TestConfigRejectsWhatWouldBreakAUnit(t *testing.T) {
	env := map[string]string{"APP_NAME": "My App", "DEPLOY_PATH": "relative/path", "APP_LISTEN": "8080",
		"APP_USER": "root", "APP_WATCHDOG": "soon"}
	_, err := ConfigFromEnv(func(k string) string { return env[k] })
	for _, want := range []string{"APP_NAME", "DEPLOY_PATH", "APP_LISTEN", "APP_USER", "APP_WATCHDOG"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

// TestMemoryMaxBoundsTheService: without a limit a login flood could take
// the whole server's memory, PostgreSQL with it.
func TestMemoryMaxBoundsTheService(t *testing.T) {
	for _, tc := range []struct{ env, want string }{{"", "MemoryMax=512M"}, {"1G", "MemoryMax=1G"}, {"768M", "MemoryMax=768M"}} {
		c, err := ConfigFromEnv(func(k string) string { return map[string]string{"APP_MEMORY_MAX": tc.env}[k] })
		if err != nil {
			t.Fatalf("APP_MEMORY_MAX=%q: %v", tc.env, err)
		}
		units, err := Units(c)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(units[c.TemplateUnit()]), "\n"+tc.want+"\n") {
			t.Errorf("APP_MEMORY_MAX=%q: unit lacks %s:\n%s", tc.env, tc.want, units[c.TemplateUnit()])
		}
	}
	for _, bad := range []string{"lots", "512MB", "-1G", "10", "infinity"} {
		_, err := ConfigFromEnv(func(k string) string { return map[string]string{"APP_MEMORY_MAX": bad}[k] })
		if err == nil || !strings.Contains(err.Error(), "APP_MEMORY_MAX=") || strings.Contains(err.Error(), "\n") {
			t.Errorf("APP_MEMORY_MAX=%q: %v, want one line naming it", bad, err)
		}
	}
}

// An app with its own name for the database URL gets the env file template
// and provision's reminder under that name.
func TestEnvTemplateUsesTheAppsDatabaseURLName(t *testing.T) {
	c := DefaultConfig()
	c.DatabaseURL = "SHOP_DATABASE_URL"
	b, err := envTemplate(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\nSHOP_DATABASE_URL=\n") || strings.Contains(string(b), "\nDATABASE_URL=") {
		t.Errorf("template:\n%s", b)
	}
	c.DatabaseURL = "SHOP-URL"
	if err := c.Validate(); err == nil {
		t.Error("a database URL variable that is no variable name passed")
	}
}
