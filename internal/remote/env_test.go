package remote_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/remote/sshdtest"
)

// ciEnv is what a CI job's secrets give for srv: its address, user and
// port, the client key's content and the host key line. No ssh config.
func ciEnv(t *testing.T, srv *sshdtest.Server) map[string]string {
	t.Helper()
	key, err := os.ReadFile(srv.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		remote.EnvHostName:   "127.0.0.1",
		remote.EnvUser:       srv.User,
		remote.EnvPort:       strconv.Itoa(srv.Port),
		remote.EnvKey:        string(key),
		remote.EnvKnownHosts: srv.KnownHostsLine("ed25519"),
	}
}

// dialEnv dials alias with env as the only environment and an ssh config
// path that doesn't exist.
func dialEnv(t *testing.T, alias string, configPath string, env map[string]string) (*remote.Client, error) {
	t.Helper()
	if configPath == "" {
		configPath = filepath.Join(t.TempDir(), "no-such-ssh-config")
	}
	c, err := remote.Dial(context.Background(), remote.Options{Alias: alias, ConfigPath: configPath,
		Getenv: func(k string) string { return env[k] }})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func tempKnownHostsFiles(t *testing.T) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(os.TempDir(), "slipway-known-hosts-*"))
	return m
}

func TestCISecretsReachAServerWithNoSSHConfig(t *testing.T) {
	srv := sshdtest.Start(t)
	env := ciEnv(t, srv)
	before := len(tempKnownHostsFiles(t))

	t.Run("key as content", func(t *testing.T) {
		c, err := dialEnv(t, "production", "", env)
		if err != nil {
			t.Fatalf("dial: %v\n%s", err, srv.Log())
		}
		if out, err := c.Run(context.Background(), "echo ok", nil); err != nil || strings.TrimSpace(string(out)) != "ok" {
			t.Fatalf("run: %v %q", err, out)
		}
		if cfg := c.Config(); cfg.Alias != "production" || cfg.Addr() != srv.Addr() {
			t.Errorf("connected as %q to %s, want production to %s", cfg.Alias, cfg.Addr(), srv.Addr())
		}
	})
	t.Run("key as a path, pasted with CRLF line ends", func(t *testing.T) {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		e[remote.EnvKey] = srv.KeyPath
		e[remote.EnvKnownHosts] = strings.ReplaceAll("# pinned\r\n"+env[remote.EnvKnownHosts], "\n", "\r\n")
		if _, err := dialEnv(t, "production", "", e); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("dry run names the settings, never the key", func(t *testing.T) {
		cfg, err := remote.Resolve(context.Background(), "production", remote.ConfigSource{Path: "/nonexistent", Getenv: func(k string) string { return env[k] }})
		if err != nil {
			t.Fatal(err)
		}
		dry := cfg.DryRun()
		for _, want := range []string{"hostname 127.0.0.1\n", "port " + env[remote.EnvPort] + "\n", "identityfile $DEPLOY_SSH_KEY (ssh-ed25519 SHA256:", "userknownhostsfile $DEPLOY_SSH_KNOWN_HOSTS\n", "stricthostkeychecking true\n"} {
			if !strings.Contains(dry, want) {
				t.Errorf("dry run lacks %q:\n%s", want, dry)
			}
		}
		if strings.Contains(dry, "PRIVATE KEY") {
			t.Errorf("dry run shows the key:\n%s", dry)
		}
	})
	t.Run("the pinned lines replace an ssh config's known_hosts and key", func(t *testing.T) {
		// The config's known_hosts holds nothing for the server and its
		// IdentityFile doesn't exist: only the settings can make this work.
		if err := os.WriteFile(srv.KnownHostsPath, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		setConfig(t, srv, srv.KeyPath, filepath.Join(t.TempDir(), "missing_key"))
		e := map[string]string{remote.EnvKey: env[remote.EnvKey], remote.EnvKnownHosts: env[remote.EnvKnownHosts]}
		if _, err := dialEnv(t, srv.Alias, srv.ConfigPath, e); err != nil {
			t.Fatal(err)
		}
		if _, err := dialEnv(t, srv.Alias, srv.ConfigPath, nil); err == nil {
			t.Fatal("the config alone connected: the test proves nothing")
		}
	})
	if after := len(tempKnownHostsFiles(t)); after > before {
		t.Errorf("%d temporary known_hosts files left behind", after-before)
	}
}

func TestAWrongPinnedHostKeyFailsInOneLine(t *testing.T) {
	srv := sshdtest.Start(t)
	other := sshdtest.WriteKey(t, filepath.Join(t.TempDir(), "other"), "ed25519")
	line := func(host string, k ssh.PublicKey) string {
		return host + " " + string(ssh.MarshalAuthorizedKey(k))
	}
	hostPort := "[127.0.0.1]:" + strconv.Itoa(srv.Port)
	for _, c := range []struct {
		name, knownHosts, want string
	}{
		{"another key for the host", line(hostPort, other), "HOST KEY CHANGED for production ([127.0.0.1]:" + strconv.Itoa(srv.Port) + "): REFUSING TO CONNECT"},
		{"a line for another host", line("203.0.113.10", srv.HostKeys["ed25519"]), "unknown host production"},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := ciEnv(t, srv)
			env[remote.EnvKnownHosts] = c.knownHosts
			_, err := dialEnv(t, "production", "", env)
			if err == nil {
				t.Fatal("connected")
			}
			msg := err.Error()
			t.Log(msg)
			if strings.Contains(msg, "\n") || !strings.Contains(msg, c.want) || !strings.Contains(msg, "DEPLOY_SSH_KNOWN_HOSTS") {
				t.Errorf("error, want one line with %q naming DEPLOY_SSH_KNOWN_HOSTS:\n%s", c.want, msg)
			}
			if strings.Contains(msg, os.TempDir()) {
				t.Errorf("error names the temporary file:\n%s", msg)
			}
		})
	}
}

func TestBadCISettingsAreRefusedWithoutQuotingTheKey(t *testing.T) {
	dir := t.TempDir()
	protected := filepath.Join(dir, "protected")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "a passphrase", "-f", protected).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pem, err := os.ReadFile(protected)
	if err != nil {
		t.Fatal(err)
	}
	garbled := strings.Replace(string(pem), "b3BlbnNzaC1rZXktdjE", "Zm9vYmFyYmF6cXV4", 1)
	for _, c := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"passphrase", map[string]string{remote.EnvKey: string(pem)}, "DEPLOY_SSH_KEY: the key is passphrase-protected"},
		{"garbled key", map[string]string{remote.EnvKey: garbled}, "DEPLOY_SSH_KEY: not a usable private key"},
		{"no such key file", map[string]string{remote.EnvKey: filepath.Join(dir, "nope")}, "DEPLOY_SSH_KEY: neither a private key"},
		{"no user", map[string]string{remote.EnvHostName: "203.0.113.10"}, "set DEPLOY_SSH_USER too"},
		{"bad port", map[string]string{remote.EnvHostName: "203.0.113.10", remote.EnvUser: "deploy", remote.EnvPort: "ssh"}, `DEPLOY_SSH_PORT="ssh"`},
		{"user@ in the address", map[string]string{remote.EnvHostName: "deploy@203.0.113.10", remote.EnvUser: "deploy"}, "DEPLOY_SSH_HOSTNAME=\"deploy@203.0.113.10\": use a host name"},
		{"port without an address", map[string]string{remote.EnvPort: "2222"}, "apply only with DEPLOY_SSH_HOSTNAME"},
		{"not a known_hosts line", map[string]string{remote.EnvKnownHosts: "SHA256:abcdef (ED25519)"}, "DEPLOY_SSH_KNOWN_HOSTS line 1: not a known_hosts line"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := remote.CheckEnv(func(k string) string { return c.env[k] })
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), "b3BlbnNzaC") {
				t.Errorf("the error quotes the key: %v", err)
			}
			if _, derr := remote.Resolve(context.Background(), "production", remote.ConfigSource{Path: "/nonexistent", Getenv: func(k string) string { return c.env[k] }}); derr == nil || derr.Error() != err.Error() {
				t.Errorf("Resolve: %v, want the same refusal", derr)
			}
		})
	}
}
