package remote

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

// The settings that reach a server with no ssh config at all, as a CI job
// does from its secrets. With EnvHostName set the alias is only a name (in
// messages, the lock, deploy.log): the ssh config is not read. EnvKey and
// EnvKnownHosts also apply on top of an ssh config's alias (and its
// ProxyJump hops): they replace its IdentityFile and agent, and its
// known_hosts files.
const (
	EnvHostName   = "DEPLOY_SSH_HOSTNAME"
	EnvUser       = "DEPLOY_SSH_USER"
	EnvPort       = "DEPLOY_SSH_PORT"
	EnvKey        = "DEPLOY_SSH_KEY"
	EnvKnownHosts = "DEPLOY_SSH_KNOWN_HOSTS"
)

// envSettings are the DEPLOY_SSH_* values, checked.
type envSettings struct {
	hostName, user string
	port           int
	key            ssh.Signer
	knownHosts     []byte
}

// CheckEnv reports bad DEPLOY_SSH_* values (all of them, one line each)
// without connecting anywhere; nil when they are unset or usable. The
// private key is never quoted.
func CheckEnv(getenv func(string) string) error {
	_, err := readEnv(getenv)
	return err
}

// UsesHostName says whether DEPLOY_SSH_HOSTNAME replaces the ssh config.
func UsesHostName(getenv func(string) string) bool {
	return strings.TrimSpace(getenv(EnvHostName)) != ""
}

func readEnv(getenv func(string) string) (envSettings, error) {
	var s envSettings
	var errs []error
	s.hostName = strings.TrimSpace(getenv(EnvHostName))
	s.user = strings.TrimSpace(getenv(EnvUser))
	s.port = 22
	if v := strings.TrimSpace(getenv(EnvPort)); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			errs = append(errs, fmt.Errorf("%s=%q: use a TCP port number (default 22)", EnvPort, v))
		}
		s.port = p
	}
	if s.hostName == "" && (s.user != "" || getenv(EnvPort) != "") {
		errs = append(errs, fmt.Errorf("%s and %s apply only with %s (the server's address); with an ssh config, set User and Port under its Host entry", EnvUser, EnvPort, EnvHostName))
	}
	if s.hostName != "" {
		if strings.HasPrefix(s.hostName, "-") || strings.ContainsAny(s.hostName, "@ \t\n'\"\\,/") {
			errs = append(errs, fmt.Errorf("%s=%q: use a host name or IP address (no user@, port or spaces: see %s, %s)", EnvHostName, s.hostName, EnvUser, EnvPort))
		}
		if s.user == "" {
			errs = append(errs, fmt.Errorf("%s is set: set %s too, the user deploy logs in as on the server", EnvHostName, EnvUser))
		}
	}
	if v := getenv(EnvKey); strings.TrimSpace(v) != "" {
		k, err := parseEnvKey(v)
		if err != nil {
			errs = append(errs, err)
		}
		s.key = k
	}
	if v := getenv(EnvKnownHosts); strings.TrimSpace(v) != "" {
		kh, err := parseEnvKnownHosts(v)
		if err != nil {
			errs = append(errs, err)
		}
		s.knownHosts = kh
	}
	return s, errors.Join(errs...)
}

// parseEnvKey reads the private key from the variable's value: the key
// itself (what a CI secret holds) or the path of its file. Errors never
// quote the value.
func parseEnvKey(v string) (ssh.Signer, error) {
	pem := []byte(v)
	if !strings.Contains(v, "PRIVATE KEY-----") {
		path, err := expandTilde(strings.TrimSpace(v))
		if err != nil {
			return nil, err
		}
		if pem, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("%s: neither a private key (the whole key file, BEGIN and END lines included) nor the path of a readable key file: %v", EnvKey, errors.Unwrap(err))
		}
	}
	// Secrets pasted through a web form gain \r\n and lose the last newline.
	pem = append(bytes.TrimSpace(bytes.ReplaceAll(pem, []byte("\r\n"), []byte("\n"))), '\n')
	k, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		return nil, fmt.Errorf("%s: the key is passphrase-protected; a deploy key for CI has none (ssh-keygen -t ed25519 -N '' -f deploy_key)", EnvKey)
	case err != nil:
		// x/crypto's parse errors name the problem, never the bytes.
		return nil, fmt.Errorf("%s: not a usable private key (%v): paste the whole file, BEGIN and END lines included", EnvKey, err)
	}
	return k, nil
}

// parseEnvKnownHosts checks every line is a known_hosts line (as
// ssh-keyscan and /etc/ssh/ssh_host_*_key.pub with a host name in front
// give them).
func parseEnvKnownHosts(v string) ([]byte, error) {
	b := []byte(strings.ReplaceAll(v, "\r\n", "\n"))
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if _, _, _, _, _, err := ssh.ParseKnownHosts([]byte(line)); err != nil {
			return nil, fmt.Errorf("%s line %d: not a known_hosts line (`host key-type base64-key`, e.g. `203.0.113.10 ssh-ed25519 AAAA...`; `[host]:port` when the port isn't 22): %v", EnvKnownHosts, i+1, err)
		}
	}
	return append(bytes.TrimSpace(b), '\n'), nil
}

// config is the alias resolved from DEPLOY_SSH_HOSTNAME and the rest, with
// no ssh config: host keys strictly checked, never recorded.
func (s envSettings) config(alias string) (Config, error) {
	c := Config{Alias: alias, HostName: s.hostName, Port: s.port, User: s.user, StrictHostKeyChecking: "true"}
	if s.key == nil || s.knownHosts == nil {
		// What ssh would use without a config: the agent, the default key
		// files, ~/.ssh/known_hosts.
		for _, f := range []string{"~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"} {
			p, err := expandTilde(f)
			if err != nil {
				return Config{}, err
			}
			c.IdentityFiles = append(c.IdentityFiles, p)
		}
		p, err := expandTilde("~/.ssh/known_hosts")
		if err != nil {
			return Config{}, err
		}
		c.UserKnownHostsFiles = []string{p}
		c.GlobalKnownHostsFiles = []string{"/etc/ssh/ssh_known_hosts"}
	}
	return s.apply(c), nil
}

// apply puts the key and the known_hosts lines from the environment in
// place of the config's.
func (s envSettings) apply(c Config) Config {
	if s.key != nil {
		c.Key, c.IdentityFiles, c.IdentitiesOnly, c.IdentityAgent = s.key, nil, true, "none"
	}
	if s.knownHosts != nil {
		c.KnownHosts, c.UserKnownHostsFiles, c.GlobalKnownHostsFiles = s.knownHosts, nil, nil
		// Pinned: an unknown key is never recorded, wherever the config says.
		c.StrictHostKeyChecking, c.HashKnownHosts = "true", false
	}
	return c
}
