package remote

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/testenv"
)

func needSSH(t *testing.T) {
	t.Helper()
	_, err := exec.LookPath("ssh")
	testenv.Need(t, err == nil, "OpenSSH client: apt-get install openssh-client")
}

// sshG returns ssh -G's values for key, in order.
func sshGValues(t *testing.T, cfg, alias, key string) []string {
	t.Helper()
	out, err := exec.Command("ssh", "-G", "-F", cfg, alias).Output()
	if err != nil {
		t.Fatalf("ssh -G %s: %v", alias, err)
	}
	return values(string(out), key)
}

func values(out, key string) []string {
	var vs []string
	for _, line := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(line, " ")
		if k == key {
			vs = append(vs, v)
		}
	}
	return vs
}

func writeConfig(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(text, "DIR", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The dry run's hostname/port/user/identityfile/proxyjump lines are what
// `ssh -G` prints, on configs using Include, wildcards, negation and Match.
func TestDryRunMatchesSSHG(t *testing.T) {
	needSSH(t)
	dir := t.TempDir()
	writeConfig(t, dir, "included.conf", `
Host web-*
  User deploy
  IdentityFile DIR/keys/web
`)
	cfg := writeConfig(t, dir, "config", `
Include DIR/included.conf

Host bastion
  HostName 192.0.2.1
  Port 2201
  User jump

Host web-* !web-direct
  ProxyJump bastion

Host web-1
  HostName 10.0.0.1

Host web-direct
  HostName 10.0.0.2
  Port 2222

Host db-*
  HostName %h.internal.example
  User ops
  IdentityFile DIR/keys/db
  IdentityFile DIR/keys/db-extra

# Evaluated in file order: User ops is already set here.
Match originalhost db-* user ops
  Port 5022

Match host *.internal.example
  ProxyJump jump@192.0.2.9:2200,bastion

Match exec "test -e DIR/config" host cache
  User exec-matched

Host cache
  HostName 10.0.0.3

Host *
  IdentityFile DIR/keys/default
`)
	// Spot checks that each construct really took part (ssh and we could
	// agree on a config that never matched).
	expect := map[string][]string{
		"web-1":      {"user deploy", "proxyjump bastion", "identityfile " + dir + "/keys/web"},
		"web-direct": {"port 2222", "proxyjump none"},
		"db-main":    {"hostname db-main.internal.example", "port 5022", "proxyjump jump@192.0.2.9:2200,bastion"},
		"cache":      {"user exec-matched"},
		"bastion":    {"port 2201", "identityfile " + dir + "/keys/default"},
	}
	for _, alias := range []string{"web-1", "web-direct", "db-main", "cache", "bastion"} {
		t.Run(alias, func(t *testing.T) {
			c, err := Resolve(context.Background(), alias, ConfigSource{Path: cfg})
			if err != nil {
				t.Fatal(err)
			}
			dry := c.DryRun()
			for _, line := range expect[alias] {
				if !strings.Contains(dry, line+"\n") {
					t.Errorf("dry run lacks %q:\n%s", line, dry)
				}
			}
			for _, key := range []string{"hostname", "port", "user", "identityfile", "proxyjump"} {
				want := sshGValues(t, cfg, alias, key)
				if len(want) == 0 {
					want = []string{"none"} // ssh -G omits an unset proxyjump
				}
				got := values(dry, key)
				if strings.Join(got, "|") != strings.Join(want, "|") {
					t.Errorf("%s: dry run %q, ssh -G %q\n%s", key, got, want, dry)
				}
			}
		})
	}
}

// IdentityFile keeps `~` and `%` tokens in ssh -G's output; they are
// expanded the way ssh expands them when it loads the keys.
func TestIdentityFileTokensExpanded(t *testing.T) {
	needSSH(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "config", `
Host prod
  HostName srv.example.com
  Port 2022
  User admin
  IdentityFile ~/.ssh/id_%h_%r_%p
  IdentityFile %d/keys/%n-%u
  UserKnownHostsFile DIR/kh_%n
`)
	c, err := Resolve(context.Background(), "prod", ConfigSource{Path: cfg})
	if err != nil {
		t.Fatal(err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		u.HomeDir + "/.ssh/id_srv.example.com_admin_2022",
		u.HomeDir + "/keys/prod-" + u.Username,
	}
	if strings.Join(c.IdentityFiles, "|") != strings.Join(want, "|") {
		t.Errorf("identity files %q, want %q", c.IdentityFiles, want)
	}
	if got := strings.Join(c.UserKnownHostsFiles, " "); got != dir+"/kh_prod" {
		t.Errorf("known hosts %q", got)
	}
}

// An alias no Host or Match entry names is refused in one line naming the
// fix, before anything connects anywhere.
func TestUnknownAliasRefused(t *testing.T) {
	needSSH(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "config", `
Host prod
  HostName 10.0.0.1
Host *
  User admin
`)
	_, err := Resolve(context.Background(), "prdo", ConfigSource{Path: cfg})
	if !errors.Is(err, ErrUnknownAlias) {
		t.Fatalf("got %v, want ErrUnknownAlias", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "Host prdo") || strings.Contains(msg, "\n") {
		t.Errorf("message should be one line naming the fix: %q", msg)
	}
	_, err = Resolve(context.Background(), "prod", ConfigSource{Path: filepath.Join(dir, "missing")})
	if !errors.Is(err, ErrUnknownAlias) || !strings.Contains(err.Error(), "DEPLOY_SSH_CONFIG") {
		t.Errorf("missing config file: %v", err)
	}
	for _, bad := range []string{"", "-oProxyCommand=x", "root@prod", "a,b"} {
		if _, err := Resolve(context.Background(), bad, ConfigSource{Path: cfg}); err == nil {
			t.Errorf("alias %q accepted", bad)
		}
	}
}

func TestParseJumps(t *testing.T) {
	hops, err := parseJumps("a, u@b:2200,ssh://v@c:2201,[::1]:22")
	if err != nil {
		t.Fatal(err)
	}
	want := []jumpHop{{"", "a", 0}, {"u", "b", 2200}, {"v", "c", 2201}, {"", "::1", 22}}
	if len(hops) != len(want) {
		t.Fatalf("hops %v", hops)
	}
	for i := range want {
		if hops[i] != want[i] {
			t.Errorf("hop %d: %+v, want %+v", i, hops[i], want[i])
		}
	}
	if got := joinJumps(hops[:2]); got != "a,u@b:2200" {
		t.Errorf("join %q", got)
	}
}
