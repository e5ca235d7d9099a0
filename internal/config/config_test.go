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

func TestCheckReportsWhatServeWouldRefuseWithoutConnecting(t *testing.T) {
	if _, err := Check(env(map[string]string{"DATABASE_URL": "postgres://app:s3cret@db.invalid:5432/app", "PASSWORD_PEPPER": "0123456789abcdef"})); err != nil {
		t.Errorf("a good env: %v", err)
	}
	_, err := Check(env(map[string]string{"DATABASE_URL": "postgres://app:s3cret@db:notaport/app", "PASSWORD_PEPPER": "short", "LOG_FORMAT": "xml"}))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"DATABASE_URL does not parse", "PASSWORD_PEPPER must be at least 16", "LOG_FORMAT"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the error shows the password:\n%v", err)
	}
	if _, err := Check(env(nil)); err == nil || !strings.Contains(err.Error(), "DATABASE_URL is not set") {
		t.Errorf("no DATABASE_URL: %v", err)
	}
}

func TestAShortOrSpacedMetricsTokenIsRefusedWithoutEchoingIt(t *testing.T) {
	for _, v := range []string{"short", "a token with spaces in it 0123"} {
		_, err := FromEnv(env(map[string]string{"METRICS_TOKEN": v}))
		if err == nil || !strings.Contains(err.Error(), "METRICS_TOKEN") || strings.Contains(err.Error(), v) {
			t.Errorf("METRICS_TOKEN=%q: %v, want one error naming the variable, not the secret", v, err)
		}
	}
	if c, err := FromEnv(env(map[string]string{"METRICS_TOKEN": "0123456789abcdef0123"})); err != nil || c.MetricsToken != "0123456789abcdef0123" {
		t.Errorf("a good token: %q, %v", c.MetricsToken, err)
	}
}
