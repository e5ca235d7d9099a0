package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := FromEnv(env(map[string]string{"DATABASE_URL": "postgres://x@h/db"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.DBWait != 30*time.Second || c.NoMigrate || c.LogFormat != "" || c.MetricsAddr != "127.0.0.1:9090" {
		t.Errorf("defaults: %+v", c)
	}
	if err := c.RequireDatabase(); err != nil {
		t.Error(err)
	}
}

func TestBadValuesAreAllReported(t *testing.T) {
	_, err := FromEnv(env(map[string]string{"LOG_FORMAT": "xml", "NO_MIGRATE": "perhaps", "DB_WAIT": "-1s",
		"TRUSTED_PROXIES": "10.0.0.0/8,300.1.1.1", "COOKIE_INSECURE": "sometimes", "LOGIN_HASH_CONCURRENCY": "0", "METRICS_ADDR": "9090"}))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"LOG_FORMAT", "NO_MIGRATE", "DB_WAIT", `TRUSTED_PROXIES: "300.1.1.1"`, "COOKIE_INSECURE", "LOGIN_HASH_CONCURRENCY", `METRICS_ADDR="9090"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestMissingDatabaseURLSaysHowToSetIt(t *testing.T) {
	c, _ := FromEnv(env(nil))
	err := c.RequireDatabase()
	if err == nil || !strings.Contains(err.Error(), "export DATABASE_URL=") {
		t.Errorf("got %v", err)
	}
}

func TestMetricsAddrOffDisablesAndAnExplicitAddressIsKept(t *testing.T) {
	for v, want := range map[string]string{"off": "", "OFF": "", "0.0.0.0:9100": "0.0.0.0:9100", "[::1]:9100": "[::1]:9100"} {
		c, err := FromEnv(env(map[string]string{"METRICS_ADDR": v}))
		if err != nil || c.MetricsAddr != want {
			t.Errorf("METRICS_ADDR=%q: got %q, %v; want %q", v, c.MetricsAddr, err, want)
		}
	}
}
