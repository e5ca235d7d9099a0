package remote

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Config is an alias resolved the way OpenSSH resolves it. Paths are
// expanded (`~` and `%` tokens), so they can be opened as they are.
type Config struct {
	// Alias is the name that was resolved (OpenSSH's %n).
	Alias    string
	HostName string
	Port     int
	User     string
	// IdentityFiles in the order ssh tries them.
	IdentityFiles  []string
	IdentitiesOnly bool
	// IdentityAgent is the agent socket; "" means $SSH_AUTH_SOCK, "none" no agent.
	IdentityAgent string
	// UserKnownHostsFiles are checked and, with accept-new, the first one is
	// appended to. GlobalKnownHostsFiles are only read.
	UserKnownHostsFiles   []string
	GlobalKnownHostsFiles []string
	// StrictHostKeyChecking in ssh -G's spelling: "true" (yes), "accept-new",
	// "false" (no/off) or "ask" (the default; we cannot ask, so it refuses).
	StrictHostKeyChecking string
	// HashKnownHosts makes accept-new record the host hashed (|1|salt|hash).
	HashKnownHosts bool
	// HostKeyAlias replaces the host name in known_hosts lookups ("" none).
	HostKeyAlias string
	// ProxyJump is "" (none) or a comma-separated list of hops.
	ProxyJump    string
	ProxyCommand string
	// ConnectTimeout is 0 when ssh's config says none.
	ConnectTimeout time.Duration
	// ServerAliveInterval is 0 when off.
	ServerAliveInterval time.Duration
	// Key, when set (DEPLOY_SSH_KEY), is the only key offered: no agent,
	// no IdentityFile.
	Key ssh.Signer
	// KnownHosts, when set (DEPLOY_SSH_KNOWN_HOSTS), holds the only
	// known_hosts lines trusted, in place of every known_hosts file.
	KnownHosts []byte
}

// Addr is host:port for dialling.
func (c Config) Addr() string {
	return joinHostPort(c.HostName, c.Port)
}

// ConfigSource says how to ask ssh: which config file and which environment.
type ConfigSource struct {
	// Path is the ssh config file; "" means ~/.ssh/config.
	Path string
	// Getenv reads SSH_AUTH_SOCK and the DEPLOY_SSH_* settings (EnvHostName
	// and the rest); nil is os.Getenv.
	Getenv func(string) string
}

// ErrUnknownAlias means the ssh config has no entry for the alias: ssh would
// try to connect to a machine literally named that way.
var ErrUnknownAlias = errors.New("unknown ssh alias")

// Resolve asks the local OpenSSH client (`ssh -G`) what `ssh alias` would
// connect to. An alias the config does not mention at all is refused with
// ErrUnknownAlias (a typo must not become a DNS lookup of the typo).
//
// With DEPLOY_SSH_HOSTNAME set, the ssh config is not read: the alias
// reaches that address (EnvHostName); DEPLOY_SSH_KEY and
// DEPLOY_SSH_KNOWN_HOSTS replace the key and known_hosts either way.
func Resolve(ctx context.Context, alias string, src ConfigSource) (Config, error) {
	if err := checkAlias(alias); err != nil {
		return Config{}, err
	}
	env, err := readEnv(src.getenv)
	if err != nil {
		return Config{}, err
	}
	if env.hostName != "" {
		return env.config(alias)
	}
	cfgPath, err := src.path()
	if err != nil {
		return Config{}, err
	}
	if _, err := os.Stat(cfgPath); err != nil {
		return Config{}, fmt.Errorf("%w %q: ssh config %s: %v (create it with a `Host %s` entry, or set DEPLOY_SSH_CONFIG)", ErrUnknownAlias, alias, cfgPath, errors.Unwrap(err), alias)
	}
	out, err := sshG(ctx, cfgPath, alias)
	if err != nil {
		return Config{}, err
	}
	// An alias no Host/Match block singles out resolves exactly like a made-up
	// name: compare with one.
	probe := "slipway-probe-" + randHex(6)
	probeOut, err := sshG(ctx, cfgPath, probe)
	if err != nil {
		return Config{}, err
	}
	// ssh lowercases the name it is given.
	same := bytes.Equal(bytes.ToLower(out), bytes.ReplaceAll(bytes.ToLower(probeOut), []byte(probe), []byte(strings.ToLower(alias))))
	if same {
		return Config{}, fmt.Errorf("%w %q: no Host or Match entry in %s names it (add `Host %s` with its HostName and User, or fix DEPLOY_HOST)", ErrUnknownAlias, alias, cfgPath, alias)
	}
	return parseG(alias, out, src)
}

// resolveHop resolves a ProxyJump hop: any host name is allowed there, as
// with ssh -J.
func resolveHop(ctx context.Context, host string, src ConfigSource) (Config, error) {
	cfgPath, err := src.path()
	if err != nil {
		return Config{}, err
	}
	out, err := sshG(ctx, cfgPath, host)
	if err != nil {
		return Config{}, err
	}
	return parseG(host, out, src)
}

// withEnv puts DEPLOY_SSH_KEY and DEPLOY_SSH_KNOWN_HOSTS in place of what
// the ssh config says.
func withEnv(c Config, src ConfigSource) (Config, error) {
	env, err := readEnv(src.getenv)
	if err != nil {
		return Config{}, err
	}
	return env.apply(c), nil
}

func (s ConfigSource) path() (string, error) {
	if s.Path != "" {
		return expandTilde(s.Path)
	}
	home, err := homeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".ssh", "config"), nil
}

func (s ConfigSource) getenv(k string) string {
	if s.Getenv == nil {
		return os.Getenv(k)
	}
	return s.Getenv(k)
}

// checkAlias rejects what ssh would read as an option or a user@host.
func checkAlias(alias string) error {
	if alias == "" {
		return errors.New("no ssh alias given: set DEPLOY_HOST to a Host alias from your ssh config")
	}
	if strings.HasPrefix(alias, "-") || strings.ContainsAny(alias, "@ \t\n'\"\\,") {
		return fmt.Errorf("ssh alias %q: use a plain Host alias from your ssh config (no user@, spaces or options)", alias)
	}
	return nil
}

// sshG runs `ssh -G -F cfg host`. It never connects.
func sshG(ctx context.Context, cfgPath, host string) ([]byte, error) {
	if _, err := exec.LookPath("ssh"); err != nil {
		return nil, errors.New("resolve ssh alias: the OpenSSH client (ssh) is not installed: apt-get install openssh-client")
	}
	cmd := exec.CommandContext(ctx, "ssh", "-G", "-F", cfgPath, "--", host)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("resolve ssh alias %q with ssh -G -F %s: %w: %s", host, cfgPath, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// parseG reads ssh -G's `key value` lines into a Config.
func parseG(alias string, out []byte, src ConfigSource) (Config, error) {
	c := Config{Alias: alias}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		key, val, _ := strings.Cut(sc.Text(), " ")
		switch key {
		case "hostname":
			c.HostName = val
		case "port":
			p, err := strconv.Atoi(val)
			if err != nil {
				return Config{}, fmt.Errorf("ssh -G %s: port %q", alias, val)
			}
			c.Port = p
		case "user":
			c.User = val
		case "identityfile":
			c.IdentityFiles = append(c.IdentityFiles, val)
		case "identitiesonly":
			c.IdentitiesOnly = val == "yes"
		case "identityagent":
			c.IdentityAgent = val
		case "userknownhostsfile":
			c.UserKnownHostsFiles = strings.Fields(val)
		case "globalknownhostsfile":
			c.GlobalKnownHostsFiles = strings.Fields(val)
		case "stricthostkeychecking":
			c.StrictHostKeyChecking = val
		case "hashknownhosts":
			c.HashKnownHosts = val == "yes"
		case "hostkeyalias":
			c.HostKeyAlias = val
		case "proxyjump":
			if val != "none" {
				c.ProxyJump = val
			}
		case "proxycommand":
			if val != "none" {
				c.ProxyCommand = val
			}
		case "connecttimeout":
			if s, err := strconv.Atoi(val); err == nil {
				c.ConnectTimeout = time.Duration(s) * time.Second
			}
		case "serveraliveinterval":
			if s, err := strconv.Atoi(val); err == nil {
				c.ServerAliveInterval = time.Duration(s) * time.Second
			}
		}
	}
	if c.HostName == "" || c.Port == 0 || c.User == "" {
		return Config{}, fmt.Errorf("ssh -G %s: no hostname, port or user in its output", alias)
	}
	// ssh -G expands tokens in known-hosts files and the agent path itself,
	// but leaves IdentityFile as written: ssh expands it when loading keys.
	tok, err := c.tokens()
	if err != nil {
		return Config{}, err
	}
	for i, f := range c.IdentityFiles {
		if c.IdentityFiles[i], err = expandPath(f, tok); err != nil {
			return Config{}, err
		}
	}
	for _, files := range [][]string{c.UserKnownHostsFiles, c.GlobalKnownHostsFiles} {
		for i, f := range files {
			if files[i], err = expandPath(f, tok); err != nil {
				return Config{}, err
			}
		}
	}
	switch c.IdentityAgent {
	case "SSH_AUTH_SOCK":
		c.IdentityAgent = ""
	case "", "none":
	default:
		if strings.HasPrefix(c.IdentityAgent, "$") {
			c.IdentityAgent = src.getenv(strings.TrimPrefix(c.IdentityAgent, "$"))
		} else if c.IdentityAgent, err = expandPath(c.IdentityAgent, tok); err != nil {
			return Config{}, err
		}
	}
	return withEnv(c, src)
}

// tokens are OpenSSH's percent tokens for IdentityFile (ssh_config(5), TOKENS).
func (c Config) tokens() (map[byte]string, error) {
	u, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("current user: %w", err)
	}
	long, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("local host name: %w", err)
	}
	short, _, _ := strings.Cut(long, ".")
	k := c.HostKeyAlias
	if k == "" {
		k = c.HostName
	}
	port := strconv.Itoa(c.Port)
	// %C is the hash ssh uses for ControlPath: sha1 of %l%h%p%r%j.
	sum := sha1.Sum([]byte(long + c.HostName + port + c.User + c.ProxyJump))
	return map[byte]string{
		'%': "%", 'C': hex.EncodeToString(sum[:]), 'd': u.HomeDir, 'h': c.HostName,
		'i': u.Uid, 'j': c.ProxyJump, 'k': k, 'L': short, 'l': long, 'n': c.Alias,
		'p': port, 'r': c.User, 'u': u.Username,
	}, nil
}

// expandPath expands a leading ~ and the % tokens, as ssh does for paths.
func expandPath(p string, tok map[byte]string) (string, error) {
	p, err := expandTilde(p)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			b.WriteByte(p[i])
			continue
		}
		if i+1 == len(p) {
			return "", fmt.Errorf("path %q: lone %% at the end", p)
		}
		v, ok := tok[p[i+1]]
		if !ok {
			return "", fmt.Errorf("path %q: unknown token %%%c", p, p[i+1])
		}
		b.WriteString(v)
		i++
	}
	return b.String(), nil
}

func expandTilde(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := homeDir()
	if err != nil {
		return "", err
	}
	return home + p[1:], nil
}

// homeDir is the passwd home, as ssh uses, not $HOME.
func homeDir() (string, error) {
	u, err := user.Current()
	if err != nil {
		return "", fmt.Errorf("current user: %w", err)
	}
	return u.HomeDir, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		return "[" + host + "]:" + strconv.Itoa(port)
	}
	return host + ":" + strconv.Itoa(port)
}

// DryRun writes the resolved connection as ssh -G spells it, one `key value`
// line each (identityfile once per file, expanded as ssh expands it when it
// loads the keys).
func (c Config) DryRun() string {
	var b strings.Builder
	fmt.Fprintf(&b, "host %s\nhostname %s\nport %d\nuser %s\n", c.Alias, c.HostName, c.Port, c.User)
	for _, f := range c.IdentityFiles {
		fmt.Fprintf(&b, "identityfile %s\n", f)
	}
	if c.Key != nil {
		// Never the key itself: its type and fingerprint.
		fmt.Fprintf(&b, "identityfile $%s (%s %s)\n", EnvKey, c.Key.PublicKey().Type(), ssh.FingerprintSHA256(c.Key.PublicKey()))
	}
	fmt.Fprintf(&b, "identitiesonly %s\n", yesNo(c.IdentitiesOnly))
	if c.IdentityAgent != "" {
		fmt.Fprintf(&b, "identityagent %s\n", c.IdentityAgent)
	}
	if c.KnownHosts != nil {
		fmt.Fprintf(&b, "userknownhostsfile $%s\n", EnvKnownHosts)
	} else {
		fmt.Fprintf(&b, "userknownhostsfile %s\n", strings.Join(c.UserKnownHostsFiles, " "))
	}
	fmt.Fprintf(&b, "stricthostkeychecking %s\n", c.StrictHostKeyChecking)
	if c.HostKeyAlias != "" {
		fmt.Fprintf(&b, "hostkeyalias %s\n", c.HostKeyAlias)
	}
	pj := c.ProxyJump
	if pj == "" {
		pj = "none"
	}
	fmt.Fprintf(&b, "proxyjump %s\n", pj)
	return b.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
